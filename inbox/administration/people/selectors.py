"""Who has an account, as the people page lists them."""

from django.contrib.auth import get_user_model
from django.db.models import Prefetch

from inbox.models import Inbox, Team


def people():
    """Everyone with an account: their inboxes and teams, in three statements."""
    return (
        get_user_model()
        .objects.order_by("-is_active", "first_name", "username")
        .prefetch_related(
            Prefetch("memberships__inbox", queryset=Inbox.objects.only("pk", "name", "kind")),
            Prefetch("teams", queryset=Team.objects.only("pk", "name")),
        )
    )
