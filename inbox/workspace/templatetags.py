import re

from django import template
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe

from conversations.mentions import MENTION, PUNCTUATION
from inbox.accounts.sessions import device_label
from inbox.durations import span_said

register = template.Library()

# Shown in the page; anything else is offered as a download.
INLINE_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
DELIVERY_MARKS = {"queued": "○", "sending": "○", "sent": "✓", "delivered": "✓✓", "read": "✓✓", "failed": "!"}


@register.filter
def is_inline_image(content_type: str) -> bool:
    return content_type in INLINE_IMAGE_TYPES


# The emoji support conversations use most, one click away in the composer (the widget has its own).
EMOJI = "😀 😊 🙂 😉 😍 😂 🤔 😅 😢 😮 🙏 👍 👎 👌 👋 🙌 👏 🎉 ❤️ 💯 ✅ ❌ ⚠️ 📦 🚚 💳 🧾 📞 ✉️ ⏰ 🎁 🔧".split()


@register.simple_tag
def emoji_choices() -> list[str]:
    return EMOJI


@register.filter
def device(user_agent: str) -> str:
    return device_label(user_agent)


@register.filter
def initials(name: str) -> str:
    """An avatar's letters: the first of the first and last words ("Ada Lovelace" → "AL")."""
    words = [w for w in (name or "").split() if w[:1].isalnum()]
    if not words:
        return "?"
    return (words[0][0] + (words[-1][0] if len(words) > 1 else "")).upper()


@register.filter
def failure_parts(text: str) -> tuple[str, str]:
    """A stored failure (``contract.with_detail``) as its sentence and its technical detail."""
    sentence, _, detail = (text or "").partition("\n")
    return sentence, detail


@register.filter
def mentions(text: str) -> str:
    """A note's text, escaped, with line breaks kept and each @mention marked."""
    escaped = escape(text)
    marked = MENTION.sub(_marked, escaped)
    return mark_safe(re.sub(r"\r?\n", "<br>", marked))  # noqa: S308 - built from escaped text


def _marked(match: re.Match) -> str:
    # Trailing punctuation ends the sentence, not the name.
    name = match.group(1).rstrip(PUNCTUATION)
    return f'<mark class="mention">@{name}</mark>{match.group(1)[len(name) :]}' if name else match.group(0)


@register.simple_tag
def delivery_mark(status: str) -> str:
    return DELIVERY_MARKS.get(status, "")


@register.filter
def duration(seconds) -> str:
    return span_said(seconds)


@register.filter
def seconds_until(moment) -> int:
    """Whole seconds from now to ``moment`` (negative once it has passed)."""
    return int((moment - timezone.now()).total_seconds()) if moment else 0


@register.filter
def whole_minutes(seconds: int) -> int:
    """A countdown past a minute, rounded up to the minute: 39 min 59 s to go reads "40 min"."""
    return -(-seconds // 60) * 60 if seconds > 60 else seconds


@register.filter
def sla_target_name(target: str) -> str:
    from conversations.models import SlaClock

    return str(SlaClock.Target(target).label) if target in SlaClock.Target.values else ""
