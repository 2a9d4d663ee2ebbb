from django.conf import settings
from django.templatetags.static import static
from django.urls import reverse

from inbox.models import Inbox


def widget_script_url() -> str:
    return f"{settings.PUBLIC_BASE_URL}{static('widget/widget.js')}"


def widget_snippet(inbox: Inbox) -> str:
    return f'<script src="{widget_script_url()}" data-inbox-token="{inbox.public_token}" async></script>'


def webhook_url(inbox: Inbox) -> str:
    return f"{settings.PUBLIC_BASE_URL}{reverse('inbound_webhook', args=[inbox.kind, inbox.public_token])}"


def email_provider_webhook_urls(inbox: Inbox) -> dict[str, str]:
    """Where each email service provider's inbound webhook points for this inbox."""
    from inbox.email_providers import PROVIDERS

    return {
        name: f"{settings.PUBLIC_BASE_URL}{reverse('email_provider_webhook', args=[inbox.public_token, name])}"
        for name in PROVIDERS
    }
