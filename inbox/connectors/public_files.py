"""Signed, expiring links to a stored file, for those who fetch it without signing in: Twilio and
Meta download a reply's media from them, and a chat visitor opens the files of their chat."""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import reverse

SALT = "inbox.public-file"


def public_file_url(attachment_id: int) -> str:
    token = signing.TimestampSigner(salt=SALT).sign(str(attachment_id))
    return f"{settings.PUBLIC_BASE_URL}{reverse('public_file', args=[token])}"


def public_file_id(token: str) -> int | None:
    """The attachment a link names, or None once it is forged or older than PUBLIC_FILE_MAX_AGE_SECONDS."""
    try:
        value = signing.TimestampSigner(salt=SALT).unsign(token, max_age=settings.PUBLIC_FILE_MAX_AGE_SECONDS)
    except signing.BadSignature:
        return None
    return int(value) if value.isdigit() else None
