"""Settings → Service levels: the SLA policies, each with its targets, clock and conditions."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from conversations.models import SlaPolicy
from inbox.accounts.permissions import admin_required
from inbox.administration.service_levels.forms import SlaPolicyForm
from inbox.administration.service_levels.services import policy_delete, policy_save


def _policies():
    return SlaPolicy.objects.select_related("inbox", "label")


@admin_required
@require_http_methods(["GET", "POST"])
def policy_list(request):
    form = SlaPolicyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        policy = policy_save(form=form, actor=request.user)
        messages.success(request, _("Added the SLA policy “%(name)s”.") % {"name": policy.name})
        return redirect("settings:sla_policies")
    context = {"settings_section": "sla", "policies": _policies(), "form": form}
    return render(request, "administration/service_levels/list.html", context, status=422 if form.errors else 200)


@admin_required
@require_http_methods(["GET", "POST"])
def policy_edit(request, policy_id):
    policy = get_object_or_404(_policies(), pk=policy_id)
    form = SlaPolicyForm(request.POST or None, instance=policy)
    if request.method == "POST" and form.is_valid():
        policy_save(form=form, actor=request.user)
        messages.success(request, _("Saved."))
        return redirect("settings:sla_policies")
    context = {"settings_section": "sla", "policy": policy, "form": form}
    return render(request, "administration/service_levels/edit.html", context, status=422 if form.errors else 200)


@admin_required
@require_POST
def policy_remove(request, policy_id):
    policy = get_object_or_404(SlaPolicy, pk=policy_id)
    policy_delete(policy=policy, actor=request.user)
    messages.success(request, _("Deleted the SLA policy “%(name)s”.") % {"name": policy.name})
    return redirect("settings:sla_policies")
