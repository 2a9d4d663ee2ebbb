"""What a channel needs to ask a satisfaction question, and to read the answer back: the scale, the
signed one-click links email carries, and the hint for answering by text. Kept apart from
``conversations.csat`` because delivery (below it) draws the question into each outgoing message."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from conversations.models import CsatSurvey, Message
from inbox.connectors.contract import SurveyQuestion

RATINGS = (1, 2, 3, 4, 5)
LABELS = (
    gettext_lazy("Very poor"),
    gettext_lazy("Poor"),
    gettext_lazy("Okay"),
    gettext_lazy("Good"),
    gettext_lazy("Excellent"),
)
LINK_MAX_AGE = timedelta(days=60)
SIGNING_SALT = "conversations.csat.link"


def answer_link(survey: CsatSurvey, rating: int) -> str:
    """The one-click link for one rating: signed, so it cannot be made up or altered."""
    value = signing.dumps({"s": survey.pk, "r": rating}, salt=SIGNING_SALT)
    return f"{settings.PUBLIC_BASE_URL}{reverse('csat_answer', args=[value])}"


def answer_link_read(value: str) -> tuple[CsatSurvey, int] | None:
    """The survey and rating a link names, or None for a link that was made up, altered or is too old."""
    try:
        data = signing.loads(value, salt=SIGNING_SALT, max_age=LINK_MAX_AGE)
        survey_id, rating = int(data["s"]), int(data["r"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    survey = CsatSurvey.objects.select_related("conversation__inbox").filter(pk=survey_id).first()
    return (survey, rating) if survey is not None and rating in RATINGS else None


def survey_question(message: Message) -> SurveyQuestion | None:
    """What a channel needs to ask the question this message carries (None: not a survey)."""
    survey = CsatSurvey.objects.filter(question=message).first()
    if survey is None:
        return None
    return SurveyQuestion(
        token=survey.token,
        links=tuple(answer_link(survey, rating) for rating in RATINGS),
        labels=tuple(str(label) for label in LABELS),
        reply_hint=_("Reply with a number from 1 (%(low)s) to 5 (%(high)s).")
        % {"low": str(LABELS[0]).lower(), "high": str(LABELS[-1]).lower()},
    )
