"""Canned responses, managed in a list: everyone keeps their own; admins keep the shared ones."""

from django import forms
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from conversations.actions import canned_response_delete
from conversations.models import CannedResponse
from conversations.selectors import canned_for


class CannedForm(forms.ModelForm):
    shared = forms.BooleanField(required=False, help_text="Offered to every agent (admins only).")

    class Meta:
        model = CannedResponse
        fields = ["shortcut", "text"]
        widgets = {"text": forms.Textarea(attrs={"rows": 4})}


def _editable(user):
    """The agent's own responses, and the shared ones for admins."""
    mine = Q(owner=user)
    return CannedResponse.objects.filter(mine | Q(owner__isnull=True, team__isnull=True) if user.is_staff else mine)


@login_required
@require_http_methods(["GET", "POST"])
def canned_list(request):
    form = CannedForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        response = form.save(commit=False)
        response.owner = None if form.cleaned_data["shared"] and request.user.is_staff else request.user
        response.save()
        return redirect("workspace:canned_list")
    editable = set(_editable(request.user).values_list("pk", flat=True))
    return render(
        request,
        "workspace/canned.html",
        {"responses": canned_for(user=request.user), "editable": editable, "form": form},
    )


@login_required
@require_POST
def canned_delete(request, canned_id):
    canned = _editable(request.user).filter(pk=canned_id).first()
    if canned is None:
        raise Http404("No such canned response of yours.")
    canned_response_delete(canned=canned, actor=request.user)
    return redirect("workspace:canned_list")
