"""Customer satisfaction: once a conversation is resolved, its customer is asked once, on the channel
they wrote from, how it went, on a scale of 1 to 5 with an optional comment.

Each channel asks its own way (``SurveyQuestion``, drawn by each connector): the widget shows
buttons, email carries signed one-click links, SMS asks for a digit, Messenger offers quick replies.
The inbox decides whether to ask, after what delay, and only for conversations with, or without, a
label. An answer is kept on the survey, shown in the timeline and on the conversation, and counted in
the reports; a reply that is not a rating stays an ordinary message.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from celery import shared_task
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from conversations import listeners, notifications
from conversations.csat_question import RATINGS
from conversations.delivery import system_message_queue
from conversations.models import Conversation, CsatSurvey, Message, Notification
from conversations.reports import facts
from customers.models import ContactIdentity
from inbox.connectors.contract import InboundMessage
from inbox.connectors.registry import connector_for
from inbox.models import Inbox

State = CsatSurvey.State
DEFAULT_QUESTION = gettext_lazy("How would you rate the help you got from us?")
# A text reply is taken as a rating only this long after the question, and only while the
# conversation stays resolved: later, a lone digit is more likely an answer to something else.
TEXT_ANSWER_WINDOW = timedelta(days=7)
# "4", "4/5", "4 stars", "5 - quick and kind": a rating, maybe with a comment after it.
RATING_TEXT = re.compile(r"^\s*([1-5])\s*(?:/\s*5|stars?|★+)?\s*(?:[\s.,:;!\-–—]+(?P<comment>.*))?$", re.S | re.I)


class SurveyRefused(ValueError):
    """The answer cannot be taken (not a rating from 1 to 5, another visitor's survey)."""


# ---- asking ------------------------------------------------------------------------------------------


def status_changed(conversation: Conversation, *, before: str, after: str, at: datetime, actor=None) -> None:
    """Resolving schedules the question (once per conversation); reopening before it went cancels it."""
    if after == Conversation.Status.RESOLVED:
        _schedule(conversation, at=at)
    elif before == Conversation.Status.RESOLVED:
        CsatSurvey.objects.filter(conversation=conversation, state=State.SCHEDULED).update(
            state=State.SKIPPED, skipped_reason="reopened before it was asked"
        )


def _schedule(conversation: Conversation, *, at: datetime) -> None:
    inbox = conversation.inbox
    if not inbox.csat_enabled or facts.first_customer_at(conversation) is None:
        return
    survey = CsatSurvey.objects.filter(conversation=conversation).first()
    if survey is not None and survey.state in (State.ASKED, State.ANSWERED):
        return  # asked once, ever
    due = at + timedelta(minutes=inbox.csat_delay_minutes)
    fields = {"state": State.SCHEDULED, "due_at": due, "identity_id": conversation.identity_id, "skipped_reason": ""}
    fields["agent_id"] = conversation.assignee_id
    if survey is None:
        survey = CsatSurvey.objects.create(conversation=conversation, **fields)
    else:
        CsatSurvey.objects.filter(pk=survey.pk).update(**fields)
    if inbox.csat_delay_minutes == 0:
        transaction.on_commit(lambda: csat_ask_task.delay(survey.pk))


def _skip(survey: CsatSurvey, reason: str) -> None:
    CsatSurvey.objects.filter(pk=survey.pk).update(state=State.SKIPPED, skipped_reason=reason[:200])


def survey_ask(*, survey_id: int, now: datetime | None = None) -> Message | None:
    """Ask a scheduled survey's question now, unless things changed: the conversation reopened, the
    label rule no longer holds, the customer can no longer be written to."""
    now = now or timezone.now()
    with transaction.atomic():
        survey = (
            CsatSurvey.objects.select_for_update(of=("self",))
            .select_related("conversation__inbox", "conversation__customer", "identity")
            .filter(pk=survey_id, state=State.SCHEDULED)
            .first()
        )
        if survey is None:
            return None
        conversation, inbox = survey.conversation, survey.conversation.inbox
        if conversation.status != Conversation.Status.RESOLVED:
            _skip(survey, "reopened before it was asked")
            return None
        if not _label_rule_holds(inbox, conversation):
            _skip(survey, "the inbox's label rule")
            return None
        identity = survey.identity
        blocked = connector_for(inbox).reply_blocked(
            inbox_settings=inbox.settings, opted_out_at=identity.opted_out_at, last_inbound_at=_last_word(survey)
        )
        if identity.opted_out_at is not None or blocked:
            _skip(survey, blocked or "the customer opted out")
            return None
        question = (inbox.csat_question or "").strip() or str(DEFAULT_QUESTION)
        message = system_message_queue(conversation=conversation, text=question, identity=identity)
        CsatSurvey.objects.filter(pk=survey.pk).update(state=State.ASKED, asked_at=now, question=message)
        survey.asked_at = now
        facts.survey_asked(survey)
    return message


def _label_rule_holds(inbox: Inbox, conversation: Conversation) -> bool:
    if inbox.csat_label_rule not in ("with", "without") or not inbox.csat_label_id:
        return True
    has = conversation.labels.filter(pk=inbox.csat_label_id).exists()
    return has if inbox.csat_label_rule == "with" else not has


def _last_word(survey: CsatSurvey) -> datetime | None:
    return (
        Message.objects.filter(
            inbox_id=survey.conversation.inbox_id, identity_id=survey.identity_id, direction=Message.Direction.INBOUND
        )
        .order_by("-sent_at")
        .values_list("sent_at", flat=True)
        .first()
    )


@shared_task(name="conversations.csat.csat_ask_task")
def csat_ask_task(survey_id: int) -> None:
    survey_ask(survey_id=survey_id)


def surveys_ask_due(*, now: datetime | None = None) -> int:
    """Ask every survey whose delay has passed (beat, every CSAT_SWEEP_SECONDS)."""
    now = now or timezone.now()
    due = list(CsatSurvey.objects.filter(state=State.SCHEDULED, due_at__lte=now).values_list("pk", flat=True)[:500])
    return sum(survey_ask(survey_id=pk, now=now) is not None for pk in due)


# ---- answering -----------------------------------------------------------------------------------------


def survey_answer(*, survey: CsatSurvey, rating: int, comment: str = "", message: Message | None = None) -> CsatSurvey:
    """Take the customer's rating, once: the first answer stands. A comment may still follow a rating
    given without one (the widget and the email page ask for it after the click). Raises SurveyRefused
    for a rating outside 1 to 5 or a survey that was never asked."""
    if rating not in RATINGS:
        raise SurveyRefused(_("A rating is a number from 1 to 5."))
    comment = comment.strip()[:2000]
    now = timezone.now()
    with transaction.atomic():
        moved = CsatSurvey.objects.filter(pk=survey.pk, state=State.ASKED).update(
            state=State.ANSWERED, rating=rating, comment=comment, answered_at=now
        )
        if not moved:
            current = CsatSurvey.objects.select_for_update().get(pk=survey.pk)
            if current.state != State.ANSWERED:
                raise SurveyRefused(_("This survey is not open."))
            if comment and not current.comment and current.answer_id:
                CsatSurvey.objects.filter(pk=current.pk).update(comment=comment)
                Message.objects.filter(pk=current.answer_id).update(text=comment, updated_at=now)
                listeners.message_updated(current.answer_id)
                current.comment = comment
            return current
        survey.state, survey.rating, survey.comment, survey.answered_at = State.ANSWERED, rating, comment, now
        conversation = Conversation.objects.select_related("customer", "inbox", "assignee").get(
            pk=survey.conversation_id
        )
        if message is None:
            message = Message.objects.create(
                conversation=conversation,
                inbox_id=conversation.inbox_id,
                identity_id=survey.identity_id,
                direction=Message.Direction.INBOUND,
                sender_type=Message.Sender.CUSTOMER,
                text=comment,
                rating=rating,
                external_id=f"csat-{survey.pk}",
                status=Message.Status.RECEIVED,
                sent_at=now,
            )
            message.conversation = conversation
            listeners.message_created(message)
        CsatSurvey.objects.filter(pk=survey.pk).update(answer=message)
        survey.conversation = conversation
        facts.survey_answered(survey)
        notifications.notify(
            user_ids=[survey.agent_id or conversation.assignee_id],
            kind=Notification.Kind.RATED,
            conversation=conversation,
            message=message,
            text=_("%(customer)s rated the conversation %(rating)s out of 5")
            % {"customer": conversation.customer.display_name, "rating": rating},
        )
        listeners.conversations_updated([conversation.pk])
    return survey


def rating_in_text(text: str) -> tuple[int, str] | None:
    """A text that is a rating (a digit 1 to 5, maybe with a comment after it): the rating and comment."""
    match = RATING_TEXT.match(text or "")
    return (int(match.group(1)), (match.group("comment") or "").strip()) if match else None


def survey_answered_by(*, inbox: Inbox, identity: ContactIdentity, inbound: InboundMessage):
    """The survey an inbound message answers, with its rating and comment, or None. A quick reply
    names its survey; on SMS and Messenger, a message that is only a rating answers the question last
    asked this person on this inbox, within a week and while the conversation stays resolved."""
    if inbound.survey_answer is not None:
        token, rating = inbound.survey_answer
        survey = CsatSurvey.objects.filter(token=token, identity__customer_id=identity.customer_id).first()
        return (survey, rating, "") if survey is not None and survey.state == State.ASKED else None
    if inbox.kind not in (Inbox.Kind.SMS, Inbox.Kind.MESSENGER) or inbound.attachments or inbound.from_business:
        return None
    found = rating_in_text(inbound.text)
    if found is None:
        return None
    survey = (
        CsatSurvey.objects.filter(
            identity=identity,
            conversation__inbox=inbox,
            conversation__status=Conversation.Status.RESOLVED,
            state=State.ASKED,
            asked_at__gte=timezone.now() - TEXT_ANSWER_WINDOW,
        )
        .order_by("-asked_at")
        .first()
    )
    return (survey, *found) if survey is not None else None


def visitor_survey_answer(*, inbox: Inbox, visitor_id: str, token: str, rating: int, comment: str = "") -> CsatSurvey:
    """A website visitor's click on the widget's buttons: only their own survey, on this inbox."""
    survey = CsatSurvey.objects.filter(
        token=token,
        conversation__inbox=inbox,
        identity__kind=ContactIdentity.Kind.WEBCHAT,
        identity__address=visitor_id,
    ).first()
    if survey is None:
        raise SurveyRefused(_("This survey is not yours to answer."))
    return survey_answer(survey=survey, rating=rating, comment=comment)
