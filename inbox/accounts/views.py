"""Signing in, accepting an invitation, and the signed-in user's own profile and sessions."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm, SetPasswordForm
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from inbox.accounts import sessions
from inbox.accounts.invitations import invited_user
from inbox.accounts.profile import ProfileForm


def login_locked_out(request, *args):
    """The login page, refusing: django-axes calls this once a username and address pair has failed
    AXES_FAILURE_LIMIT times. The same words whether or not the username exists."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    context = {
        "form": AuthenticationForm(request),
        "locked_out": True,
        "lockout_minutes": minutes,
        "next": request.POST.get("next", request.GET.get("next", "")),
    }
    return render(request, "accounts/login.html", context, status=429)


@login_required
@require_http_methods(["GET", "POST"])
def profile(request):
    """What agents set for themselves: their name as customers see it, and their email signature."""
    form = ProfileForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Saved.")
        return redirect("settings:profile")
    return render(request, "accounts/profile.html", {"settings_section": "profile", "form": form})


@login_required
def session_list(request):
    rows = sessions.session_list(user=request.user, current_session_key=request.session.session_key)
    return render(request, "accounts/sessions.html", {"settings_section": "sessions", "sessions": rows})


@login_required
@require_POST
def session_revoke(request, session_id):
    if sessions.session_revoke(user=request.user, session_id=session_id):
        messages.success(request, "That session is signed out.")
    else:
        messages.info(request, "That session had already ended.")
    return redirect("settings:sessions")


@login_required
@require_POST
def sessions_revoke_others(request):
    count = sessions.sessions_revoke_all(user=request.user, except_session_key=request.session.session_key)
    messages.success(request, f"Signed out of {count} other session{'' if count == 1 else 's'}.")
    return redirect("settings:sessions")


@require_http_methods(["GET", "POST"])
def accept_invitation(request, uidb64, token):
    """The invitation link: choose a password, and you are in."""
    user = invited_user(uidb64, token)
    if user is None:
        # A page of its own, not Http404: the person holding the link needs to know what to do.
        return render(request, "accounts/invitation_expired.html", status=404)
    form = SetPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("workspace:conversation_list")
    return render(request, "accounts/accept_invitation.html", {"form": form, "person": user})
