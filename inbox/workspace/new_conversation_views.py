"""Writing first: the form for a new email or SMS, to a customer of the agent's or a new address."""

from dataclasses import replace

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from conversations import selectors
from conversations.formatting import signed
from conversations.start import StartRefused, conversation_start
from customers.selectors import customer_for_agent, customer_identities
from inbox.connectors.registry import connector_for_kind
from inbox.models import Inbox
from inbox.workspace.email_fields import email_parts
from inbox.workspace.views import conversation_context


def _inboxes(user) -> list[Inbox]:
    """The agent's active inboxes that may write first (email, SMS)."""
    inboxes = Inbox.objects.filter(pk__in=selectors.visible_inbox_ids(user), is_active=True).order_by("name")
    return [inbox for inbox in inboxes if connector_for_kind(inbox.kind).starts_conversations]


@login_required
@require_http_methods(["GET", "POST"])
def conversation_new(request):
    source = request.POST if request.method == "POST" else request.GET
    customer_id = source.get("customer", "")
    customer = customer_for_agent(user=request.user, customer_id=int(customer_id)) if customer_id.isdigit() else None
    known = (
        {i.kind: i.address for i in customer_identities(user=request.user, customer_id=customer.pk)} if customer else {}
    )
    # Each inbox as the form offers it: the customer's address there, and the signature its mail gets.
    inboxes = [
        (
            inbox,
            known.get("email" if inbox.kind == Inbox.Kind.EMAIL else "phone", ""),
            selectors.email_signature(user=request.user, inbox=inbox) if inbox.kind == Inbox.Kind.EMAIL else "",
        )
        for inbox in _inboxes(request.user)
    ]
    context = {"inboxes": inboxes, "customer": customer, "typed": source}
    if request.method == "GET":
        return render(request, "workspace/_new_conversation.html", context)
    chosen = next(((i, s) for i, _, s in inboxes if str(i.pk) == source.get("inbox")), None)
    if chosen is None:
        return render(request, "workspace/_new_conversation.html", {**context, "error": "Choose an inbox."}, status=422)
    inbox, signature = chosen
    text = source.get("text", "")
    if source.get("sign") and text.strip():
        text = signed(text, signature)
    try:
        # "To" is the customer here, not one more address beside them.
        email = replace(email_parts(source, inbox=inbox), to=()) if inbox.kind == Inbox.Kind.EMAIL else None
        message = conversation_start(
            inbox=inbox,
            to=source.get("to", ""),
            name=source.get("name", "").strip()[:200],
            text=text,
            author=request.user,
            customer=customer,
            email=email,
            files=request.FILES.getlist("files") if inbox.kind == Inbox.Kind.EMAIL else (),
        )
    except (StartRefused, ValueError) as exc:
        return render(request, "workspace/_new_conversation.html", {**context, "error": str(exc)}, status=422)
    conversation = selectors.conversation_for_agent(user=request.user, conversation_id=message.conversation_id)
    response = render(request, "workspace/_conversation_pane.html", conversation_context(request, conversation))
    response["HX-Push-Url"] = f"/conversations/{conversation.pk}/"
    return response
