"""Reviewer and operations pages for handoffs. Thin views: check role, call one query or service,
render. htmx requests get the page's named partial; every action also works as a plain form post.

Status codes: 400 for invalid input (form errors shown), 409 when the ticket changed under the
actor (the page re-renders with the fresh state and says so). htmx swaps 400/409 bodies too
(static/js/handoffs.js), so the message appears where the action was taken.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agentops.models import Agent
from agentops.permissions import OPERATIONS, REVIEWERS, has_role, role_required
from agentops.scoping import (
    allows_agent,
    department_ids,
    require_unscoped,
    scope_agents,
    scope_form,
    scope_rows,
)

from . import bulk, charts, forms, queries, routing, services
from .calculations import sla_state
from .models import Queue, RootCause, SavedReply, Ticket

BOTH = (REVIEWERS, OPERATIONS)
LEASE_WARNING_SECONDS = 120


# --- queues --------------------------------------------------------------------------------------


@role_required(*BOTH)
@require_GET
def queue_list(request: HttpRequest) -> HttpResponse:
    summaries = queries.queue_summaries(user=request.user)
    return render(request, "handoffs/queue_list.html", {"queues": summaries, "now": timezone.now()})


def _page_number(request: HttpRequest) -> int:
    value = request.GET.get("page", "1")
    return int(value) if value.isdigit() and len(value) < 7 else 1


@role_required(*BOTH)
@require_GET
def queue_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """One page of the queue in work order, with counts. The htmx refresh sends the state token of
    what it shows; when nothing matching changed the answer is an empty 204 (htmx keeps the page)."""
    queue = get_object_or_404(Queue, slug=slug)
    form = forms.TicketFilterForm(request.GET or None, agent_choices=queries.queue_agent_choices(queue, request.user))
    if form.is_bound and not form.is_valid():
        return render(request, "handoffs/queue_detail.html", {"queue": queue, "form": form, "page": None},
                      status=400)
    filters = form.filters() if form.is_bound else queries.TicketFilters()
    if request.htmx and request.GET.get("state"):
        if queries.queue_state(queue, filters, request.user)[2] == request.GET["state"]:
            return HttpResponse(status=204)
    now = timezone.now()
    page = queries.queue_tickets(queue, filters, _page_number(request), user=request.user)  # department scope
    tickets = page.tickets
    for t in tickets:
        t.sla_class = sla_state(t.sla_due_at, now)
    query = request.GET.copy()
    query.pop("state", None)
    query.pop("page", None)
    context = {"queue": queue, "form": form, "page": page, "tickets": tickets, "now": now,
               "query": query.urlencode(), "can_claim": has_role(request.user, REVIEWERS),
               "is_ops": has_role(request.user, OPERATIONS), "bulk_form": forms.BulkForm()}
    template = "handoffs/queue_detail.html#tickets" if request.htmx else "handoffs/queue_detail.html"
    return render(request, template, context)


@role_required(OPERATIONS)
@require_POST
def queue_bulk(request: HttpRequest, slug: str) -> HttpResponse:
    """Reassign, cancel or re-prioritise the ticked tickets; each is fenced by its version."""
    queue = get_object_or_404(Queue, slug=slug)
    back = f"{queue.get_absolute_url()}?{request.POST.get('query', '')}".rstrip("?")
    form = forms.BulkForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(" ".join(e) for e in form.errors.values())
        messages.error(request, f"Nothing was changed: {errors}")
        return redirect(back)
    data = form.cleaned_data
    allowed = set(scope_rows(Ticket.objects.filter(pk__in=[pk for pk, _v in data["tickets"]]), request.user)
                  .values_list("pk", flat=True))  # another department's ticket does not exist for a scoped user
    result = bulk.bulk_apply(request.user, data["action"], [t for t in data["tickets"] if t[0] in allowed], to_user=data.get("to_user"),
                             priority=data.get("priority"), note=(data.get("note") or "").strip())
    verb = {"reassign": "reassigned", "cancel": "cancelled", "priority": "re-prioritised"}[data["action"]]
    if result.done:
        messages.success(request, f"{len(result.done)} ticket{'s' if len(result.done) != 1 else ''} {verb}.")
    for pk in sorted({pk for pk, _v in data["tickets"]} - allowed):
        messages.error(request, f"#{pk} skipped: there is no such ticket.")
    for pk, why in result.skipped:
        messages.error(request, f"#{pk} skipped: {why}")
    return redirect(back)


@role_required(*BOTH)
@require_GET
def search(request: HttpRequest) -> HttpResponse:
    form = scope_form(forms.SearchForm(request.GET or None), request.user)
    results = None
    if form.is_bound:
        if not form.is_valid():
            return render(request, "handoffs/search.html", {"form": form, "results": None}, status=400)
        results = queries.search_tickets(form.cleaned_data["q"], form.cleaned_data["status"], user=request.user)
    return render(request, "handoffs/search.html", {"form": form, "results": results, "now": timezone.now(),
                                                    "limit": queries.SEARCH_LIMIT})


@role_required(REVIEWERS)
@require_POST
def claim_next(request: HttpRequest, slug: str) -> HttpResponse:
    queue = get_object_or_404(Queue, slug=slug)
    try:
        ticket = services.claim_next(request.user, queue)
    except services.HandoffError as exc:
        messages.error(request, str(exc))
        return redirect(queue)
    if ticket is None:
        messages.info(request, f"Nothing to claim in {queue.name} right now.")
        return redirect(queue)
    messages.success(request, f"You claimed ticket #{ticket.pk}, next in {queue.name}'s work order "
                              f"({ticket.get_priority_display()}, then SLA due, then age).")
    return redirect(ticket)


@role_required(REVIEWERS)
@require_GET
def my_tickets(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    data = queries.my_tickets(request.user, now)  # scoped to the user's departments inside
    for t in data["held"]:
        t.sla_class = sla_state(t.sla_due_at, now)
    return render(request, "handoffs/my_tickets.html", {**data, "now": now})


# --- one ticket ----------------------------------------------------------------------------------


def _ticket_or_404(pk: int, user=None) -> Ticket:
    ticket = queries.get_ticket(pk)
    if ticket is None or not allows_agent(user, ticket.agent):
        raise Http404("No such ticket.")
    return ticket


def _action_forms(ticket: Ticket) -> dict[str, object]:
    initial = {"version": ticket.version}
    return {
        name: spec.form(initial=initial, prefix=name)
        for name, spec in ACTIONS.items()
    }


def _render_ticket(request: HttpRequest, ticket: Ticket, *, status: int = 200, error: str = "",
                   notice: str = "", bound: tuple[str, object] | None = None) -> HttpResponse:
    now = timezone.now()
    action_forms = _action_forms(ticket)
    if bound is not None:
        action_forms[bound[0]] = bound[1]
    user = request.user
    is_holder = ticket.is_held and ticket.assignee_id == user.pk
    lease_left = (ticket.lease_expires_at - now).total_seconds() if ticket.lease_expires_at else None
    context = {
        "ctx": queries.ticket_context(ticket),
        "ticket": ticket,
        "forms": action_forms,
        "error": error,
        "notice": notice,
        "now": now,
        "sla_class": sla_state(ticket.sla_due_at, now),
        "is_holder": is_holder,
        "is_reviewer": has_role(user, REVIEWERS),
        "is_ops": has_role(user, OPERATIONS),
        "lease_warning": is_holder and lease_left is not None and lease_left <= LEASE_WARNING_SECONDS,
        "lease_warning_seconds": LEASE_WARNING_SECONDS,
        "can_reopen": ticket.can_reopen(now),
        "saved_replies": queries.saved_replies_for(ticket.queue) if (is_holder or has_role(user, OPERATIONS)) else [],
    }
    template = "handoffs/ticket_detail.html#main" if request.htmx else "handoffs/ticket_detail.html"
    return render(request, template, context, status=status)


@role_required(*BOTH)
@require_GET
def ticket_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _render_ticket(request, _ticket_or_404(pk, request.user))


@dataclass(frozen=True)
class Action:
    form: type[forms.VersionedForm]
    roles: tuple[str, ...]
    run: Callable[[Ticket, object, dict], Ticket]
    done: str


def _note(data: dict) -> str:
    return (data.get("note") or "").strip()


ACTIONS: dict[str, Action] = {
    "claim": Action(forms.ClaimForm, (REVIEWERS,),
                    lambda t, u, d: services.claim_ticket(t.pk, u, d["version"]), "You claimed this ticket."),
    "renew": Action(forms.RenewForm, (REVIEWERS,),
                    lambda t, u, d: services.renew_lease(t.pk, u, d["version"]), "Lease renewed."),
    "release": Action(forms.ReleaseForm, (REVIEWERS,),
                      lambda t, u, d: services.release_ticket(t.pk, u, d["version"], _note(d)),
                      "Released back to the queue."),
    "pending": Action(forms.PendingForm, (REVIEWERS,),
                      lambda t, u, d: services.set_pending(t.pk, u, d["version"], d["until"], _note(d)),
                      "Set pending; the SLA clock is paused."),
    "resume": Action(forms.ResumeForm, (REVIEWERS,),
                     lambda t, u, d: services.resume_ticket(t.pk, u, d["version"]), "Back to work on this ticket."),
    "note": Action(forms.NoteForm, BOTH,
                   lambda t, u, d: services.add_note(t.pk, u, d["version"], _note(d)), "Note added."),
    "resolve": Action(forms.ResolveForm, (REVIEWERS,),
                      lambda t, u, d: services.resolve_ticket(
                          t.pk, u, d["version"], outcome=d["outcome"], root_cause=d["root_cause"],
                          corrected_answer=d.get("corrected_answer") or "", note=_note(d)),
                      "Ticket resolved."),
    "reopen": Action(forms.ReopenForm, BOTH,
                     lambda t, u, d: services.reopen_ticket(t.pk, u, d["version"], _note(d)), "Ticket reopened."),
    "reassign": Action(forms.ReassignForm, (OPERATIONS,),
                       lambda t, u, d: services.reassign_ticket(t.pk, u, d["version"], d.get("to_user"), _note(d)),
                       "Ticket reassigned."),
    "cancel": Action(forms.CancelForm, (OPERATIONS,),
                     lambda t, u, d: services.cancel_ticket(t.pk, u, d["version"], _note(d)), "Ticket cancelled."),
    "priority": Action(forms.PriorityForm, (OPERATIONS,),
                       lambda t, u, d: bulk.set_priority(t.pk, u, d["version"], d["priority"], _note(d)),
                       "Priority changed; the SLA deadlines follow it."),
}


def _take_next(request: HttpRequest, queue: Queue) -> HttpResponse:
    """After "Resolve and take next": claim the next ticket of the same queue and go there."""
    try:
        following = services.claim_next(request.user, queue)
    except services.HandoffError as exc:
        following, reason = None, str(exc)
    else:
        reason = f"Nothing else to claim in {queue.name} right now."
    if following is None:
        messages.info(request, f"Ticket resolved. {reason}")
        target = queue.get_absolute_url()
    else:
        messages.success(request, f"Ticket resolved. You claimed #{following.pk}, next in {queue.name}.")
        target = following.get_absolute_url()
    if request.htmx:
        return HttpResponse(status=204, headers={"HX-Redirect": target})
    return redirect(target)


def _form_error_text(form) -> str:
    parts = []
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        parts.append(f"{label or 'Form'}: {' '.join(errors)}")
    return "Please correct the form: " + "; ".join(parts)


@role_required(*BOTH)
@require_http_methods(["GET", "POST"])
def ticket_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Post/redirect/get: a plain form post always ends on the ticket's own address (with a message),
    so reload and back never re-post; opening an action's address (GET) goes to the ticket. Under
    htmx the ticket's main fragment is answered in place (400 form error, 409 conflict)."""
    spec = ACTIONS.get(action)
    if spec is None:
        raise Http404("No such action.")
    if request.method == "GET":
        return redirect("handoffs:ticket", pk=_ticket_or_404(pk, request.user).pk)
    if not has_role(request.user, *spec.roles):
        raise PermissionDenied(f"Only the {' or '.join(spec.roles)} role may {action} tickets.")
    ticket = _ticket_or_404(pk, request.user)
    form = spec.form(request.POST, prefix=action)
    if not form.is_valid():
        if not request.htmx:
            messages.error(request, _form_error_text(form))
            return redirect(ticket)
        return _render_ticket(request, ticket, status=400, error="Please correct the form below.",
                              bound=(action, form))
    try:
        spec.run(ticket, request.user, form.cleaned_data)
    except services.HandoffError as exc:
        if not request.htmx:
            messages.error(request, str(exc))
            return redirect(ticket)
        if isinstance(exc, services.TicketConflict):
            return _render_ticket(request, _ticket_or_404(pk, request.user), status=409, error=str(exc))
        return _render_ticket(request, _ticket_or_404(pk, request.user), status=400, error=str(exc), bound=(action, form))
    if action == "resolve" and request.POST.get("take_next"):
        return _take_next(request, ticket.queue)
    if request.htmx:
        return _render_ticket(request, _ticket_or_404(pk, request.user), notice=spec.done)
    messages.success(request, spec.done)
    return redirect("handoffs:ticket", pk=pk)


# --- operations: metrics and configuration -------------------------------------------------------


@role_required(OPERATIONS)
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    form = scope_form(forms.MetricsForm(request.GET), request.user)
    if not form.is_valid():
        return render(request, "handoffs/metrics.html", {"form": form}, status=400)
    data = queries.queue_metrics(form.cleaned_data["queue"], *form.window(), user=request.user)
    figures = {
        "depth": charts.depth_by_age(data.depth_by_age).to_json(),
        "arrivals": charts.arrivals(data.arrivals_by_day).to_json(),
        "agents": charts.handoff_rate_by_agent(data.by_agent).to_json(),
        "reasons": charts.tickets_by_reason(data.by_reason).to_json(),
    }
    return render(request, "handoffs/metrics.html", {"form": form, "m": data, "figures": figures})


@role_required(OPERATIONS)
@require_GET
def settings_page(request: HttpRequest) -> HttpResponse:
    return render(request, "handoffs/settings.html", {
        # routing names agents: a scoped user sees only theirs (agentops.scoping)
        "queues": Queue.objects.prefetch_related(Prefetch("agents", queryset=scope_agents(Agent.objects.all(), request.user)))
        .order_by("position", "name"),
        "can_route": department_ids(request.user) is None,
        "root_causes": RootCause.objects.all(),
        "saved_replies": SavedReply.objects.prefetch_related("queues"),
    })


def _edit(request: HttpRequest, form_class, instance, title: str) -> HttpResponse:
    form = form_class(request.POST or None, instance=instance)
    if request.method == "POST":
        if form.is_valid():
            saved = form.save()
            messages.success(request, f"Saved {saved}.")
            return redirect("handoffs:settings")
        return render(request, "handoffs/config_form.html", {"form": form, "title": title}, status=400)
    return render(request, "handoffs/config_form.html", {"form": form, "title": title})


@role_required(OPERATIONS)
@require_http_methods(["GET", "POST"])
def queue_edit(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    require_unscoped(request.user)  # routing spans every department's agents
    queue = get_object_or_404(Queue, slug=slug) if slug else None
    return _edit(request, forms.QueueForm, queue, f"Edit queue {queue}" if queue else "New queue")


@role_required(OPERATIONS)
@require_POST
def queue_reroute(request: HttpRequest, slug: str) -> HttpResponse:
    """Apply the current routing rules to the queue's open, never-claimed tickets."""
    require_unscoped(request.user)
    queue = get_object_or_404(Queue, slug=slug)
    moved = routing.reroute_unclaimed_tickets(queue, actor=request.user)
    messages.success(request, f"Routed {moved} unclaimed ticket{'s' if moved != 1 else ''} out of {queue.name}.")
    return redirect("handoffs:settings")


@role_required(OPERATIONS)
@require_http_methods(["GET", "POST"])
def root_cause_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    cause = get_object_or_404(RootCause, pk=pk) if pk else None
    return _edit(request, forms.RootCauseForm, cause, f"Edit root cause {cause}" if cause else "New root cause")



@role_required(OPERATIONS)
@require_http_methods(["GET", "POST"])
def saved_reply_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    reply = get_object_or_404(SavedReply, pk=pk) if pk else None
    return _edit(request, forms.SavedReplyForm, reply, f"Edit saved reply {reply}" if reply else "New saved reply")
