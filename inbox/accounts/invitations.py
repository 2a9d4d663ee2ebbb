"""Invitation links: an account made by an admin sets its own password once, through a link."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.urls import reverse
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode


class InvitationTokenGenerator(PasswordResetTokenGenerator):
    """Django's password-reset tokens under their own salt: a link works until the password is set
    (the token covers the password hash and last login) or PASSWORD_RESET_TIMEOUT passes."""

    key_salt = "inbox.people.invitation"


invitation_tokens = InvitationTokenGenerator()


def invitation_url(user) -> str:
    path = reverse(
        "accept_invitation", args=[urlsafe_base64_encode(force_bytes(user.pk)), invitation_tokens.make_token(user)]
    )
    return f"{settings.PUBLIC_BASE_URL}{path}"


def invited_user(uidb64: str, token: str):
    """The active account an invitation link is for, or None if the link is wrong, used or expired."""
    User = get_user_model()
    try:
        user = User.objects.get(pk=force_str(urlsafe_base64_decode(uidb64)), is_active=True)
    except (User.DoesNotExist, ValueError, TypeError, OverflowError):
        return None
    return user if invitation_tokens.check_token(user, token) else None
