"""Teams, labels and shared canned responses: lists an admin adds to, edits and prunes. One set of
views serves all three; each kind says its model, its form and how it is described."""

from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.db import models
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from conversations.models import CannedResponse, Label
from inbox.accounts.permissions import admin_required
from inbox.administration.catalog.services import TeamInUse, catalog_item_delete, catalog_item_save
from inbox.administration.inboxes.forms import member_label, members_choices
from inbox.models import Team


class TeamForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["name", "members"]
        widgets = {"members": forms.CheckboxSelectMultiple}
        help_texts = {"members": "Team members see the team's view and its canned responses."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["members"].queryset = members_choices(self.instance.members.all() if self.instance.pk else ())
        self.fields["members"].label_from_instance = member_label


class LabelForm(forms.ModelForm):
    class Meta:
        model = Label
        fields = ["name", "color"]
        widgets = {"color": forms.TextInput(attrs={"type": "color"})}


class SharedCannedForm(forms.ModelForm):
    """A response for everyone, or for one team; personal ones are kept by each agent on /canned/."""

    class Meta:
        model = CannedResponse
        fields = ["shortcut", "text", "team"]
        widgets = {"text": forms.Textarea(attrs={"rows": 4})}
        labels = {"team": "Only for team"}
        help_texts = {"team": "Empty: offered to every agent.", "shortcut": "Agents type /shortcut in a reply."}


@dataclass(frozen=True)
class Catalog:
    section: str  # the URL names' stem and the nav entry
    title: str
    model: type[models.Model]
    form: type[forms.ModelForm]
    noun: str

    def queryset(self):
        if self.model is CannedResponse:
            return CannedResponse.objects.filter(owner__isnull=True).select_related("team")
        if self.model is Team:
            return Team.objects.prefetch_related("members")
        return self.model.objects.all()


CATALOGS = {
    "teams": Catalog("teams", "Teams", Team, TeamForm, "team"),
    "labels": Catalog("labels", "Labels", Label, LabelForm, "label"),
    "canned": Catalog("canned", "Shared canned responses", CannedResponse, SharedCannedForm, "canned response"),
}


@admin_required
@require_http_methods(["GET", "POST"])
def catalog_list(request, section):
    catalog = CATALOGS[section]
    form = catalog.form(request.POST or None)
    if request.method == "POST" and form.is_valid():
        obj = catalog_item_save(form=form, noun=catalog.noun, actor=request.user)
        messages.success(request, f"Added {catalog.noun} “{obj}”.")
        return redirect(f"settings:{section}")
    return render(
        request,
        "administration/catalog/list.html",
        {"settings_section": section, "catalog": catalog, "items": catalog.queryset(), "form": form},
    )


@admin_required
@require_http_methods(["GET", "POST"])
def catalog_edit(request, section, item_id):
    catalog = CATALOGS[section]
    obj = get_object_or_404(catalog.queryset(), pk=item_id)
    form = catalog.form(request.POST or None, instance=obj)
    if request.method == "POST" and form.is_valid():
        catalog_item_save(form=form, noun=catalog.noun, actor=request.user)
        messages.success(request, "Saved.")
        return redirect(f"settings:{section}")
    return render(
        request,
        "administration/catalog/edit.html",
        {"settings_section": section, "catalog": catalog, "item": obj, "form": form},
    )


@admin_required
@require_POST
def catalog_delete(request, section, item_id):
    catalog = CATALOGS[section]
    obj = get_object_or_404(catalog.queryset(), pk=item_id)
    try:
        catalog_item_delete(obj=obj, noun=catalog.noun, actor=request.user)
    except TeamInUse as exc:
        messages.error(request, str(exc))
        return redirect(f"settings:{section}")
    messages.success(request, f"Deleted {catalog.noun} “{obj}”.")
    return redirect(f"settings:{section}")
