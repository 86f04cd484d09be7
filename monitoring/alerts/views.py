"""Alert pages: open and recent alerts, rule editor, test send."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from agentops.permissions import OPERATIONS, role_required
from agentops.scoping import department_ids, scope_form, scope_rows
from monitoring.alerts import services as alerts
from monitoring.alerts.forms import AlertRuleForm, RaisedRuleForm
from monitoring.alerts.models import AlertDelivery, AlertEvent, AlertRule


def _email_delivery() -> str:
    """Where alert e-mail goes, in words (the backend class name alone says little)."""
    backend = settings.EMAIL_BACKEND
    if backend.endswith("smtp.EmailBackend"):
        return f"SMTP server {settings.EMAIL_HOST}:{settings.EMAIL_PORT}"
    known = {"console": "the worker's console log (set EMAIL_BACKEND and EMAIL_HOST to deliver it)",
             "locmem": "an in-memory outbox (tests)", "filebased": "files (EMAIL_FILE_PATH)",
             "dummy": "nowhere (the dummy backend drops it)"}
    module = backend.rsplit(".", 2)[-2] if backend.count(".") >= 2 else backend
    return known.get(module, backend)


@role_required(OPERATIONS)
def alert_list(request: HttpRequest) -> HttpResponse:
    # A user limited to departments sees their agents' rules and alerts; fleet-wide rules (no agent)
    # measure every department, so they are not theirs.
    user = request.user
    return render(request, "monitoring/alerts.html", {
        "rules": scope_rows(AlertRule.objects.select_related("agent"), user).order_by("name"),
        "open_events": scope_rows(AlertEvent.objects.filter(resolved_at__isnull=True), user).select_related(
            "rule", "agent", "acknowledged_by"),
        "snooze_hours": alerts.SNOOZE_HOURS, "now": timezone.now(),
        "recent_events": scope_rows(AlertEvent.objects.select_related("rule", "agent"), user)[:50],
        "deliveries": scope_rows(AlertDelivery.objects.select_related("rule"), user, "rule__agent__department_id")[:20],
        "email_backend": _email_delivery(),
    })


def _rule_form(request: HttpRequest, rule: AlertRule | None) -> HttpResponse:
    form_class = RaisedRuleForm if rule is not None and rule.is_raised else AlertRuleForm
    form = scope_form(form_class(request.POST or None, instance=rule), request.user)
    if department_ids(request.user) is not None and "agent" in form.fields:
        form.fields["agent"].required = True  # a fleet-wide rule would measure other departments
    if request.method == "POST" and form.is_valid():
        saved = form.save(commit=False)
        if saved.created_by_id is None:
            saved.created_by = request.user
        saved.save()
        messages.success(request, f"Alert rule “{saved.name}” saved.")
        return redirect("monitoring:alerts")
    status = 400 if request.method == "POST" else 200
    return render(request, "monitoring/alert_rule_form.html", {"form": form, "rule": rule}, status=status)


@role_required(OPERATIONS)
def alert_rule_create(request: HttpRequest) -> HttpResponse:
    return _rule_form(request, None)


@role_required(OPERATIONS)
def alert_rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _rule_form(request, get_object_or_404(scope_rows(AlertRule.objects.all(), request.user), pk=pk))


@require_POST
@role_required(OPERATIONS)
def alert_rule_test(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a test notification now (synchronously, so the result is on the next page)."""
    rule = get_object_or_404(scope_rows(AlertRule.objects.select_related("agent"), request.user), pk=pk)
    if not rule.has_channel:
        messages.warning(request, "This rule has no webhook URL or e-mail address: add one to test sending.")
        return redirect("monitoring:alerts")
    deliveries = alerts.deliver(rule, AlertDelivery.Kind.TEST)
    if not deliveries:
        messages.warning(request, "This rule has no webhook URL or e-mail address to send to.")
    for delivery in deliveries:
        if delivery.ok:
            messages.success(request, f"Test {delivery.get_channel_display()} sent to {delivery.target}.")
        else:
            messages.error(request, f"Test {delivery.get_channel_display()} to {delivery.target} failed: "
                                    f"{delivery.error}")
    return redirect("monitoring:alerts")


@require_POST
@role_required(OPERATIONS)
def alert_event_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Acknowledge an open alert, or snooze it (``hours``); back to where the button was."""
    event = get_object_or_404(scope_rows(AlertEvent.objects.all(), request.user), pk=pk)
    try:
        if action == "acknowledge":
            alerts.acknowledge_event(event.pk, request.user)
            messages.success(request, "Alert acknowledged.")
        elif action == "snooze":
            hours = int(request.POST.get("hours", "0")) if request.POST.get("hours", "").isdigit() else 0
            alerts.snooze_event(event.pk, request.user, hours)
            messages.success(request, f"Alert snoozed for {hours} h: off the overview until then.")
        else:
            raise Http404("No such alert action.")
    except ValueError as exc:
        messages.error(request, str(exc))
    back = request.POST.get("next", "")
    return redirect(back if url_has_allowed_host_and_scheme(back, {request.get_host()}) and back else "monitoring:alerts")
