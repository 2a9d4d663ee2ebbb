import re

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

from conversations.actions import MENTION

register = template.Library()

# Shown in the page; anything else is offered as a download.
INLINE_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
DELIVERY_MARKS = {"queued": "○", "sending": "○", "sent": "✓", "delivered": "✓✓", "read": "✓✓", "failed": "!"}


@register.filter
def is_inline_image(content_type: str) -> bool:
    return content_type in INLINE_IMAGE_TYPES


@register.filter
def mentions(text: str) -> str:
    """A note's text, escaped, with line breaks kept and each @mention marked."""
    escaped = escape(text)
    marked = MENTION.sub(lambda m: f'<mark class="mention">@{m.group(1)}</mark>', escaped)
    return mark_safe(re.sub(r"\r?\n", "<br>", marked))  # noqa: S308 - built from escaped text


@register.simple_tag
def delivery_mark(status: str) -> str:
    return DELIVERY_MARKS.get(status, "")
