"""An agent's own profile: the name customers see on replies, and the signature under their mail."""

from django import forms
from django.db import transaction

from inbox.models import AgentProfile


class ProfileForm(forms.Form):
    first_name = forms.CharField(max_length=150, required=False, widget=forms.TextInput(attrs={"dir": "auto"}))
    last_name = forms.CharField(max_length=150, required=False, widget=forms.TextInput(attrs={"dir": "auto"}))
    signature = forms.CharField(
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "dir": "auto"}),
        help_text="Under your emails, above the inbox's own. Bold and links as in replies: **bold**, [text](https://…).",
    )

    def __init__(self, data=None, *, user):
        self.user = user
        profile = AgentProfile.objects.filter(user=user).first()
        initial = {
            "first_name": user.first_name,
            "last_name": user.last_name,
            "signature": profile.signature if profile else "",
        }
        super().__init__(data, initial=initial)

    def save(self) -> None:
        with transaction.atomic():
            self.user.first_name = self.cleaned_data["first_name"].strip()
            self.user.last_name = self.cleaned_data["last_name"].strip()
            self.user.save(update_fields=["first_name", "last_name"])
            AgentProfile.objects.update_or_create(
                user=self.user, defaults={"signature": self.cleaned_data["signature"].strip()}
            )
