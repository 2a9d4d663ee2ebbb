"""Who may do what: agents act on the inboxes they belong to; admins also run the settings."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied


def is_admin(user) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_staff)


def admin_required(view):
    """An admin's page: anyone else signed in gets 403, anyone signed out the login page."""

    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not is_admin(request.user):
            raise PermissionDenied("Only admins can change settings.")
        return view(request, *args, **kwargs)

    return wrapped
