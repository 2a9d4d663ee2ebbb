"""The page a customer lands on from a satisfaction email's one-click link: the click is the answer,
and the page thanks them and takes a comment. Public (the signed link is the permission), and
single-use: the first rating stands, and a second click shows it."""

from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from conversations import csat
from conversations.csat_question import LABELS, answer_link_read


@never_cache
@require_http_methods(["GET", "POST"])
def csat_answer(request, value: str):
    found = answer_link_read(value)
    if found is None:
        return render(
            request, "surveys/answer.html", {"refused": _("This link is not valid, or it is too old.")}, status=404
        )
    survey, rating = found
    comment = request.POST.get("comment", "") if request.method == "POST" else ""
    try:
        survey = csat.survey_answer(survey=survey, rating=rating, comment=comment)
    except csat.SurveyRefused as refused:
        return render(request, "surveys/answer.html", {"refused": str(refused)}, status=410)
    return render(
        request,
        "surveys/answer.html",
        {
            "survey": survey,
            "label": LABELS[survey.rating - 1],
            "changed": survey.rating != rating,
            "commented": request.method == "POST",
            "inbox": survey.conversation.inbox,
        },
    )
