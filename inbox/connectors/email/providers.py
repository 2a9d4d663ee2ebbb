"""Inbound mail from email service providers, through django-anymail's inbound webhooks.

anymail validates each provider's signature or basic auth and turns its payload into a MIME
message; from there the mail takes the one email path. Secrets are per inbox: basic auth is
"inbox:<the inbox's secret>" (as on the raw-MIME webhook); signing keys sit in the inbox's
encrypted credentials under ``inbound_signing_key``.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

from anymail.exceptions import AnymailConfigurationError, AnymailNotSupportedWarning, AnymailWebhookValidationFailure
from anymail.signals import EventType
from anymail.webhooks.base import AnymailCoreWebhookView
from anymail.webhooks.mailersend import MailerSendInboundWebhookView
from anymail.webhooks.mailgun import MailgunInboundWebhookView
from anymail.webhooks.mailjet import MailjetInboundWebhookView
from anymail.webhooks.mandrill import MandrillCombinedWebhookView
from anymail.webhooks.postmark import PostmarkInboundWebhookView
from anymail.webhooks.sendgrid import SendGridInboundWebhookView
from anymail.webhooks.sparkpost import SparkPostInboundWebhookView
from django.conf import settings
from django.core.cache import cache
from django.test.client import RequestFactory
from django.urls import reverse

from inbox.connectors.contract import ParseError, WebhookVerificationFailed
from inbox.models import Inbox

# A provider's webhook payload kept as it came, to be read again by ``stored_payload_mails``.
PAYLOAD_CONTENT_TYPE = "application/vnd.inbox.provider-payload"


@dataclass(frozen=True)
class Provider:
    view: type[AnymailCoreWebhookView]
    # The anymail option that takes the signing key; None: the provider offers basic auth only.
    signing_option: str | None = None


PROVIDERS = {
    "mailgun": Provider(MailgunInboundWebhookView, "webhook_signing_key"),
    "mandrill": Provider(MandrillCombinedWebhookView, "webhook_key"),
    "mailersend": Provider(MailerSendInboundWebhookView, "inbound_secret"),
    "postmark": Provider(PostmarkInboundWebhookView),
    "sendgrid": Provider(SendGridInboundWebhookView),
    "mailjet": Provider(MailjetInboundWebhookView),
    "sparkpost": Provider(SparkPostInboundWebhookView),
}


def _view(provider: Provider, inbox: Inbox, request) -> AnymailCoreWebhookView:
    options = {}
    if provider.signing_option:
        key = (inbox.credentials or {}).get("inbound_signing_key")
        if not key:
            raise WebhookVerificationFailed("this inbox has no signing key for the provider (inbound_signing_key)")
        options[provider.signing_option] = key
        options["webhook_secret"] = []  # the signature is the check
    else:
        options["webhook_secret"] = [f"inbox:{secret}" for secret in inbox.secrets]
    if provider.view is MandrillCombinedWebhookView and settings.PUBLIC_BASE_URL:
        # Mandrill signs the URL it called: ours as the world sees it, not as a proxy passed it on.
        options["webhook_url"] = f"{settings.PUBLIC_BASE_URL.rstrip('/')}{request.get_full_path()}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AnymailNotSupportedWarning)  # SendGrid: community-supported
        return provider.view(**options)


# Mailgun signs timestamp + token, not the body, with one key for the whole account: a signature
# seen anywhere could carry any mail. Only fresh ones are taken, and each token once.
MAILGUN_MAX_AGE_SECONDS = 300


def provider_verify(name: str, inbox: Inbox, request) -> None:
    try:
        _view(PROVIDERS[name], inbox, request).run_validators(request)
    except (AnymailWebhookValidationFailure, AnymailConfigurationError) as exc:
        raise WebhookVerificationFailed(f"{name}: {exc}") from exc
    if name == "mailgun":
        _mailgun_fresh_and_unused(inbox, request)


def _mailgun_fresh_and_unused(inbox: Inbox, request) -> None:
    try:
        timestamp, token = int(request.POST["timestamp"]), request.POST["token"]
    except (KeyError, ValueError) as exc:
        raise WebhookVerificationFailed("mailgun: no timestamp and token") from exc
    if abs(time.time() - timestamp) > MAILGUN_MAX_AGE_SECONDS:
        raise WebhookVerificationFailed("mailgun: the signature is too old (a replay?)")
    if not cache.add(f"mailgun-token:{inbox.pk}:{token}", 1, timeout=2 * MAILGUN_MAX_AGE_SECONDS):
        raise WebhookVerificationFailed("mailgun: this signature was used before (a replay)")


def provider_mails(name: str, inbox: Inbox, request) -> list[bytes]:
    """The raw mails in a verified payload; ParseError if anymail cannot read it."""
    try:
        events = _view(PROVIDERS[name], inbox, request).parse_events(request)
    except Exception as exc:  # noqa: BLE001 - anything anymail raises means "not readable as sent"
        raise ParseError(f"{name} payload not understood: {type(exc).__name__}: {exc}") from exc
    return [event.message.as_bytes() for event in events if event.event_type == EventType.INBOUND]


def payload_content_type(name: str, request) -> str:
    # The original type last, whole: a multipart body needs its boundary to be read again.
    return f"{PAYLOAD_CONTENT_TYPE}; provider={name}; type={request.META.get('CONTENT_TYPE', '')}"


def stored_payload_mails(inbox: Inbox, raw: bytes, content_type: str) -> list[bytes]:
    """Read a stored provider payload again (a replay after a fix): rebuild the request it was."""
    head, _, original_type = content_type.partition("; type=")
    name = head.partition("; provider=")[2]
    if name not in PROVIDERS:
        raise ParseError(f"stored payload of an unknown provider {name!r}")
    request = RequestFactory().generic("POST", "/", data=raw, content_type=original_type)
    return provider_mails(name, inbox, request)


def provider_webhook_urls(inbox: Inbox) -> dict[str, str]:
    """Where each email service provider's inbound webhook points for this inbox."""
    return {
        name: f"{settings.PUBLIC_BASE_URL}{reverse('email_provider_webhook', args=[inbox.public_token, name])}"
        for name in PROVIDERS
    }
