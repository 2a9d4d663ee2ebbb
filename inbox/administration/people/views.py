"""People: who works here, their role, inboxes and teams; invitations and deactivation."""

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from inbox.accounts.invitations import invitation_url
from inbox.accounts.permissions import admin_required
from inbox.administration.people import selectors
from inbox.administration.people.services import (
    person_invite,
    person_set_active,
    person_sign_out_everywhere,
    person_update,
)
from inbox.models import Inbox, Team

User = get_user_model()


class PersonForm(forms.Form):
    first_name = forms.CharField(max_length=150)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(help_text="The invitation goes here; it is also their sign-in name.")
    role = forms.ChoiceField(
        choices=[("agent", "Agent: answers conversations"), ("admin", "Admin: also runs these settings")],
        initial="agent",
        widget=forms.RadioSelect,
    )
    inboxes = forms.ModelMultipleChoiceField(
        queryset=Inbox.objects.order_by("name"), required=False, widget=forms.CheckboxSelectMultiple
    )
    teams = forms.ModelMultipleChoiceField(
        queryset=Team.objects.order_by("name"), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, person=None, **kwargs):
        self.person = person
        super().__init__(*args, **kwargs)

    def clean_email(self):
        email = self.cleaned_data["email"].strip().lower()
        taken = User.objects.filter(Q(username__iexact=email) | Q(email__iexact=email))
        if self.person is not None:
            taken = taken.exclude(pk=self.person.pk)
        if taken.exists():
            raise forms.ValidationError("Someone with this email already has an account.")
        return email

    def values(self) -> dict:
        data = self.cleaned_data
        return {
            "first_name": data["first_name"],
            "last_name": data["last_name"],
            "email": data["email"],
            "is_admin": data["role"] == "admin",
            "inboxes": list(data["inboxes"]),
            "teams": list(data["teams"]),
        }


def _context(**extra):
    return {"settings_section": "people", **extra}


@admin_required
@require_http_methods(["GET", "POST"])
def people(request):
    form = PersonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user, link = person_invite(actor=request.user, **form.values())
        messages.success(request, f"Invited {user.get_full_name()}. The link is on their page; it was emailed too.")
        return redirect("settings:person", user.pk)
    return render(request, "administration/people/list.html", _context(people=selectors.people(), form=form))


@admin_required
@require_http_methods(["GET", "POST"])
def person(request, user_id):
    user = get_object_or_404(User, pk=user_id)
    initial = {
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "role": "admin" if user.is_staff else "agent",
        "inboxes": list(user.memberships.values_list("inbox_id", flat=True)),
        "teams": list(user.teams.values_list("pk", flat=True)),
    }
    form = PersonForm(request.POST or None, initial=initial, person=user)
    if request.method == "POST" and form.is_valid():
        try:
            person_update(actor=request.user, user=user, **form.values())
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Saved.")
            return redirect("settings:person", user.pk)
    invited = not user.has_usable_password() and user.last_login is None
    return render(
        request,
        "administration/people/person.html",
        _context(person=user, form=form, invited=invited, invitation=invitation_url(user) if invited else ""),
    )


@admin_required
@require_POST
def person_toggle(request, user_id):
    user = get_object_or_404(User, pk=user_id)
    try:
        unassigned = person_set_active(actor=request.user, user=user, active=not user.is_active)
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        if user.is_active:
            messages.success(request, f"{user.get_full_name() or user.username} can sign in again.")
        else:
            messages.success(
                request,
                f"{user.get_full_name() or user.username} is deactivated and signed out everywhere"
                + (f"; {unassigned} open conversation(s) went back to Unassigned." if unassigned else "."),
            )
    return redirect("settings:person", user.pk)


@admin_required
@require_POST
def person_sign_out(request, user_id):
    user = get_object_or_404(User, pk=user_id)
    count = person_sign_out_everywhere(actor=request.user, user=user)
    messages.success(request, f"Signed out of {count} session(s).")
    return redirect("settings:person", user.pk)
