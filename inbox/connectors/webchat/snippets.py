"""What a website pastes to show the chat widget, and the settings page's live preview of it."""

import re

from django.conf import settings
from django.templatetags.static import static
from django.utils.html import format_html

from inbox.models import Inbox

# The widget's colour, as the settings form takes it and the widget reads it.
HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


def widget_script_url() -> str:
    return f"{settings.PUBLIC_BASE_URL}{static('widget/widget.js')}"


def widget_snippet(inbox: Inbox) -> str:
    return f'<script src="{widget_script_url()}" data-inbox-token="{inbox.public_token}" async></script>'


PREVIEW_FIELDS = {"name", "email"}


def widget_preview_snippet(
    inbox: Inbox, *, color: str, greeting: str, prechat: list[str], prechat_required: bool
) -> str:
    """The snippet with unsaved look and pre-chat settings as data attributes (escaped), which the
    widget prefers to the saved ones: the settings page's live preview."""
    return format_html(
        '<script src="{}" data-inbox-token="{}" data-preview="1" data-preview-color="{}" data-preview-greeting="{}"'
        ' data-preview-prechat="{}" data-preview-prechat-required="{}" async></script>',
        widget_script_url(),
        inbox.public_token,
        color if HEX_COLOUR.match(color) else "",
        greeting[:300],
        ",".join(field for field in prechat if field in PREVIEW_FIELDS),
        "1" if prechat_required else "",
    )
