"""Contacts: the list (search, sort, keyset pages), a contact's page with what can be edited about
them, and companies with their people. Every query is scoped to the agent's inboxes."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from customers import selectors
from customers.contacts import (
    RESERVED_ATTRIBUTES,
    ContactRefused,
    company_save,
    contact_update,
    identity_add,
    identity_remove,
)
from customers.models import ContactIdentity
from customers.selectors import ContactFilters, customer_identities, customer_past_conversations


@login_required
@require_GET
def contact_list(request):
    filters = ContactFilters.from_query(request.GET)
    rows, after = selectors.contact_list(user=request.user, filters=filters, after=request.GET.get("after", ""))
    context = {"rows": rows, "after": after, "filters": filters, "sorts": selectors.CONTACT_SORTS}
    if request.htmx and request.GET.get("after"):
        return render(request, "workspace/contacts/_rows.html", context)
    context["companies"] = selectors.companies_with_counts(user=request.user)
    return render(request, "workspace/contacts/list.html", context)


def _contact_or_404(request, customer_id):
    customer = selectors.contact_for_agent(user=request.user, customer_id=customer_id)
    if customer is None:
        raise Http404("No such contact in your inboxes.")
    return customer


@login_required
@require_http_methods(["GET", "POST"])
def contact_detail(request, customer_id):
    customer = _contact_or_404(request, customer_id)
    error = ""
    if request.method == "POST":
        keys, values = request.POST.getlist("attr_key"), request.POST.getlist("attr_value")
        try:
            changed = contact_update(
                customer=customer,
                actor=request.user,
                name=request.POST.get("name", ""),
                company=request.POST.get("company", ""),
                attributes=dict(zip(keys, values, strict=False)),
            )
        except ContactRefused as exc:
            error = str(exc)
        else:
            messages.success(request, f"Saved: {', '.join(changed)}." if changed else "Nothing to save.")
            return redirect("workspace:contact_detail", customer.pk)
    return _contact_page(request, customer, error=error, status=422 if error else 200)


def _contact_page(request, customer, *, error="", status=200):
    context = {
        "customer": customer,
        "identities": customer_identities(user=request.user, customer_id=customer.pk),
        "attributes": {k: v for k, v in customer.attributes.items() if k not in RESERVED_ATTRIBUTES},
        "past": customer_past_conversations(user=request.user, customer_id=customer.pk),
        "history": selectors.contact_history(customer=customer),
        "companies": selectors.visible_companies(request.user).order_by("name").values_list("name", flat=True)[:500],
        "kinds": [(ContactIdentity.Kind.EMAIL, "Email"), (ContactIdentity.Kind.PHONE, "Phone")],
        "error": error,
    }
    return render(request, "workspace/contacts/detail.html", context, status=status)


@login_required
@require_POST
def contact_identity_add(request, customer_id):
    customer = _contact_or_404(request, customer_id)
    try:
        identity_add(
            customer=customer,
            actor=request.user,
            kind=request.POST.get("kind", ""),
            raw=request.POST.get("address", ""),
        )
    except ContactRefused as exc:
        return _contact_page(request, customer, error=str(exc), status=422)
    messages.success(request, "Address added.")
    return redirect("workspace:contact_detail", customer.pk)


@login_required
@require_POST
def contact_identity_remove(request, customer_id, identity_id):
    customer = _contact_or_404(request, customer_id)
    try:
        identity_remove(customer=customer, actor=request.user, identity_id=identity_id)
    except ContactRefused as exc:
        return _contact_page(request, customer, error=str(exc), status=422)
    messages.success(request, "Address removed.")
    return redirect("workspace:contact_detail", customer.pk)


@login_required
@require_http_methods(["GET", "POST"])
def company_detail(request, company_id):
    company = get_object_or_404(selectors.visible_companies(request.user), pk=company_id)
    error = ""
    if request.method == "POST":
        try:
            company_save(
                company=company,
                actor=request.user,
                name=request.POST.get("name", ""),
                domain=request.POST.get("domain", ""),
                notes=request.POST.get("notes", ""),
            )
        except ContactRefused as exc:
            error = str(exc)
        else:
            messages.success(request, "Saved.")
            return redirect("workspace:company_detail", company.pk)
    people, after = selectors.contact_list(
        user=request.user, filters=ContactFilters(company=company.pk, sort="name"), limit=200
    )
    return render(
        request,
        "workspace/contacts/company.html",
        {"company": company, "people": people, "more": bool(after), "error": error},
        status=422 if error else 200,
    )
