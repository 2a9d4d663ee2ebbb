"""An SLA policy as an admin writes it: targets as spans of time ("30m", "4h", "1d 4h"), the clock
(business hours or calendar time) and the conditions that choose the conversations it covers."""

from __future__ import annotations

import re

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from conversations.models import SlaPolicy

UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
SPAN = re.compile(r"(\d+)\s*(d|h|m|s)", re.I)


def span_seconds(text: str) -> int | None:
    """ "1d 4h", "90m", "2 h 30 m" in seconds; None for an empty text; ValueError for anything else."""
    text = (text or "").strip().lower().replace("min", "m")
    if not text:
        return None
    if SPAN.sub("", text).strip(" ,"):
        raise ValueError(text)
    seconds = sum(int(amount) * UNITS[unit.lower()] for amount, unit in SPAN.findall(text))
    if not 0 < seconds <= 365 * 86400:
        raise ValueError(text)
    return seconds


def span_text(seconds: int | None) -> str:
    if not seconds:
        return ""
    parts = []
    for unit, size in UNITS.items():
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return " ".join(parts)


class SpanField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.TextInput(attrs={"placeholder": "e.g. 30m, 4h, 1d 4h", "size": 12}))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return span_text(value) if isinstance(value, int) else value

    def clean(self, value):
        try:
            return span_seconds(super().clean(value))
        except ValueError:
            raise ValidationError(_("Write a span of time like 30m, 4h or 1d 4h (at most a year).")) from None


class SlaPolicyForm(forms.ModelForm):
    first_response_seconds = SpanField(label=_("First response within"))
    next_response_seconds = SpanField(label=_("Next response within"))
    resolution_seconds = SpanField(label=_("Resolved within"))

    class Meta:
        model = SlaPolicy
        fields = [
            "name",
            "first_response_seconds",
            "next_response_seconds",
            "resolution_seconds",
            "business_hours",
            "inbox",
            "label",
            "priority",
            "is_active",
        ]
        labels = {
            "business_hours": _("Count only business hours"),
            "inbox": _("Only in inbox"),
            "label": _("Only with label"),
            "priority": _("Only with priority"),
            "is_active": _("Active"),
        }
        help_texts = {
            "business_hours": _(
                "Each inbox's own hours (Settings → Inboxes); an inbox without hours counts all the time."
            ),
            "inbox": _(
                "Leave the conditions empty to cover every conversation. Where several policies apply, "
                "the one with the most conditions wins."
            ),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["inbox"].label_from_instance = lambda inbox: inbox.name
        self.fields["inbox"].queryset = self.fields["inbox"].queryset.order_by("name")
        self.fields["inbox"].empty_label = _("Any inbox")
        self.fields["label"].empty_label = _("Any label")
        self.fields["priority"].choices = [("", _("Any priority")), *SlaPolicy._meta.get_field("priority").choices]

    def clean(self):
        data = super().clean()
        if not any(data.get(f"{t}_seconds") for t in ("first_response", "next_response", "resolution")):
            raise ValidationError(_("Give at least one target."))
        return data
