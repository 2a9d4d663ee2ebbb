"""Agents' replies: queued in the transaction that records them, sent by a task after commit, on
any of the customer's channels; a failed one can be retried."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import format_datetime

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from conversations import listeners
from conversations.actions import ActionRefused, conversation_assign
from conversations.delivery import message_deliver_queue
from conversations.formatting import email_html
from conversations.ingest import conversation_touch, inline_image_ids, inline_images_shown
from conversations.models import Attachment, Conversation, Message
from customers.models import ContactIdentity
from inbox.audit.record import audit_record
from inbox.models import Inbox


def message_reply_on_channel(
    *, conversation: Conversation, inbox_id: int, identity_id: int, author, text: str, files=(), email=None
) -> Message:
    """Queue a reply on one of the customer's channels (the caller has checked that it is theirs)."""
    identity = ContactIdentity.objects.get(pk=identity_id)
    target = _conversation_for_channel(conversation=conversation, inbox_id=inbox_id, identity=identity)
    return message_reply(conversation=target, author=author, text=text, files=files, identity=identity, email=email)


def _conversation_for_channel(*, conversation: Conversation, inbox_id: int, identity: ContactIdentity) -> Conversation:
    """Where a reply on another of the customer's channels goes: their open conversation there with
    that identity, or a new one (the customer's timeline shows them all together)."""
    if conversation.inbox_id == inbox_id:
        return conversation
    latest = (
        Conversation.objects.filter(customer_id=conversation.customer_id, inbox_id=inbox_id, identity=identity)
        .exclude(status=Conversation.Status.RESOLVED)
        .order_by("-last_message_at", "-id")
        .first()
    )
    return latest or Conversation.objects.create(
        inbox_id=inbox_id,
        customer_id=conversation.customer_id,
        identity=identity,
        subject=conversation.subject,
        last_message_at=timezone.now(),
    )


@dataclass(frozen=True)
class EmailParts:
    """What an email reply has beyond its text: addresses besides the customer's ("Name <a@b>"), a
    subject (a new mail's; replies keep the conversation's), and for a forward what it forwards."""

    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    subject: str = ""
    forward: str = ""  # "", "message" or "conversation"

    def recipients(self) -> dict:
        parts = {"to": list(self.to), "cc": list(self.cc), "bcc": list(self.bcc)}
        if self.forward:
            parts["forward"] = self.forward
        return {key: value for key, value in parts.items() if value}


def message_reply(
    *, conversation: Conversation, author, text: str, files=(), identity=None, email=None, quoted=None
) -> Message:
    """Queue an agent's reply on the conversation's channel (to ``identity``, by default the one the
    conversation runs on); the send happens after commit. Email replies are written in Markdown and
    go out as HTML too; ``email`` (EmailParts) adds their Cc, Bcc, subject or forward, and
    ``quoted`` (Quoted) what a forward carries under the agent's words."""
    text = text.strip()
    if not text and not quoted and not files:
        raise ValueError("A reply needs text or a file.")
    email = email or EmailParts()
    # One read of what the reply depends on: whether it is a mail, whether replying takes it.
    inbox = Inbox.objects.only("kind", "assign_on_reply").get(pk=conversation.inbox_id)
    is_email = inbox.kind == Inbox.Kind.EMAIL
    html = email_html(text) if is_email else ""
    inline = inline_image_ids(html)
    if quoted:
        text, html = f"{text}\n\n{quoted.text}".strip(), html + quoted.html
    with transaction.atomic():
        # Whether the customer waits, as stored now and locked until commit: a message of theirs that
        # arrived while the agent wrote is answered by this reply (its response time, its clock).
        conversation.waiting_since, conversation.status = (
            Conversation.objects.select_for_update()
            .filter(pk=conversation.pk)
            .values_list("waiting_since", "status")
            .get()
        )
        message = Message.objects.create(
            conversation=conversation,
            inbox_id=conversation.inbox_id,
            identity_id=identity.pk if identity else conversation.identity_id,
            direction=Message.Direction.OUTBOUND,
            sender_type=Message.Sender.AGENT,
            author=author,
            text=text,
            html=html,
            subject=(email.subject or conversation.subject)[:300] if is_email else "",
            recipients=email.recipients() if is_email else {},
            status=Message.Status.QUEUED,
            sent_at=timezone.now(),
        )
        attachments = Attachment.objects.bulk_create(
            [
                Attachment(
                    message=message,
                    file=upload,
                    filename=upload.name[:255],
                    content_type=(upload.content_type or "application/octet-stream")[:120],
                    size=upload.size,
                    # A pasted image the text shows (![…](cid:NAME)) goes in the mail's body, not beside it.
                    content_id=upload.name[:255] if upload.name.lower() in inline else "",
                )
                for upload in files
            ]
        )
        if quoted:
            # The forwarded mail's own files go with it: the same stored files, listed again.
            attachments += Attachment.objects.bulk_create(
                [
                    Attachment(
                        message=message,
                        file=a.file.name,
                        filename=a.filename,
                        content_type=a.content_type,
                        size=a.size,
                        content_id=a.content_id,
                    )
                    for a in quoted.attachments
                ]
            )
        if any(a.content_id for a in attachments):
            Message.objects.filter(pk=message.pk).update(html=inline_images_shown(html, attachments))
        conversation_touch(message, inbound=False)
        if inbox.assign_on_reply:
            _assign_to_replier(conversation, author)
        listeners.message_created(message)
        transaction.on_commit(lambda: message_deliver_queue(message.pk))
    return message


def _assign_to_replier(conversation: Conversation, author) -> None:
    """Whoever answers an unassigned conversation takes it (the inbox's assign_on_reply)."""
    if author is None or conversation.assignee_id is not None:
        return
    try:
        conversation_assign(conversation=conversation, assignee_id=author.pk, actor=author, by="reply")
    except ActionRefused:
        pass  # an admin outside the inbox answering: the conversation stays unassigned


@dataclass(frozen=True)
class Quoted:
    text: str
    html: str
    attachments: tuple = ()


def message_forward(*, conversation: Conversation, author, text: str, email: EmailParts, message_id=None) -> Message:
    """Forward one message of the conversation (``message_id``) or all of it, by email, to the
    addresses in ``email.to``: the agent's words first, then each forwarded mail with its headers."""
    if not email.to:
        raise ValueError("A forward needs an address to go to.")
    originals = list(
        Message.objects.filter(conversation=conversation, **({"pk": message_id} if message_id else {}))
        .exclude(direction=Message.Direction.NOTE)
        .select_related("author", "identity")
        .prefetch_related("attachments")
        .order_by("created_at", "id")
    )
    if not originals:
        raise ValueError("There is nothing to forward.")
    files = tuple(a for m in originals for a in m.attachments.all())
    html = "".join(forwarded_html(m) for m in originals)
    # The originals' pictures show from our own links; in the forward they are its own parts again.
    for a in files:
        if a.content_id:
            html = html.replace(f'"{reverse("workspace:attachment", args=[a.pk])}"', f'"cid:{a.content_id}"')
    quoted = Quoted(text="\n\n".join(forwarded_text(m) for m in originals), html=html, attachments=files)
    kind = "message" if message_id else "conversation"
    parts = EmailParts(to=email.to, cc=email.cc, bcc=email.bcc, subject=email.subject, forward=kind)
    return message_reply(conversation=conversation, author=author, text=text, email=parts, quoted=quoted)


def _sender(message: Message) -> str:
    if message.direction == Message.Direction.OUTBOUND:
        return (message.author.get_full_name() or message.author.get_username()) if message.author else "us"
    identity = message.identity
    return (identity.display or identity.address) if identity else "the customer"


FORWARDED = "---------- Forwarded message ----------"


def _forward_header(message: Message) -> list[tuple[str, str]]:
    header = [("From", _sender(message)), ("Date", format_datetime(message.sent_at))]
    return header + ([("Subject", message.subject)] if message.subject else [])


def forwarded_text(message: Message) -> str:
    lines = "\n".join(f"{name}: {value}" for name, value in _forward_header(message))
    return f"{FORWARDED}\n{lines}\n\n{message.full_text or message.text}"


def forwarded_html(message: Message) -> str:
    body = message.html or escape(message.full_text or message.text).replace("\n", "<br>")
    lines = "".join(f"<b>{name}:</b> {escape(value)}<br>" for name, value in _forward_header(message))
    return f"<p>{FORWARDED}<br>{lines}</p><blockquote>{body}</blockquote>"


def message_retry(*, message_id: int, actor=None) -> bool:
    """Send a failed reply again, as the agent asked: queued once more, the reason cleared."""
    with transaction.atomic():
        # Locked, so that of two agents clicking Retry at once only one queues it (and is logged).
        failed = (
            Message.objects.select_for_update(of=("self",))
            .select_related("conversation__customer")
            .filter(pk=message_id, direction=Message.Direction.OUTBOUND, status=Message.Status.FAILED)
            .first()
        )
        retried = (
            Message.objects.filter(pk=message_id).update(
                status=Message.Status.QUEUED, status_detail="", updated_at=timezone.now()
            )
            if failed
            else 0
        )
        if retried:
            conversation = failed.conversation
            audit_record(
                actor=actor,
                action="message.retry",
                summary=f"Retried a failed reply in conversation #{conversation.pk} "
                f"({conversation.customer.display_name})",
                inbox=failed.inbox_id,
                target=failed,
                # The page links an entry to its conversation by this; the reply's text stays out.
                details={"conversation_id": conversation.pk, "reason": failed.status_detail},
            )
            listeners.message_updated(message_id)
            transaction.on_commit(lambda: message_deliver_queue(message_id))
    return bool(retried)
