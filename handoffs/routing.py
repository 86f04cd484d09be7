"""Routing: escalations and rule-matched runs become tickets in the right queue; unclaimed tickets move
when a queue is closed. Idempotent: a ticket per escalation (or run), whatever the number of deliveries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from agentops.models import Agent
from handoffs.calculations import due_at
from handoffs.models import (
    EventKind,
    Queue,
    Ticket,
    TicketEvent,
    TicketSource,
    TicketStatus,
)
from handoffs.services import _log, _save
from monitoring.ingest.attribution import failing_invocations, owning_invocations
from monitoring.models import Escalation, Invocation, Run, RunStatus

# Created on demand when escalations arrive before any default queue is configured.
FALLBACK_QUEUE_SLUG = "escalations"


@dataclass(frozen=True)
class _Route:
    queue: Queue
    agent_ids: frozenset[int]


def _routes() -> list[_Route]:
    queues = Queue.objects.filter(is_active=True).prefetch_related("agents").order_by("position", "name")
    return [_Route(q, frozenset(a.pk for a in q.agents.all())) for q in queues]


def _matches_agent(route: _Route, agent_id: int) -> bool:
    return not route.agent_ids or agent_id in route.agent_ids


def _default_queue(routes: list[_Route]) -> Queue:
    for route in routes:
        if route.queue.is_default:
            return route.queue
    # No default configured: never lose an escalation (and never fail the ingest batch) for lack of one.
    queue, _ = Queue.objects.get_or_create(
        slug=FALLBACK_QUEUE_SLUG,
        defaults={"name": "Escalations", "is_default": not Queue.objects.filter(is_default=True).exists()},
    )
    return queue


def route_escalation(routes: list[_Route], agent_id: int, reason: str) -> Queue:
    """The first active queue (by position) whose agent and reason rules take it, else the default."""
    for route in routes:
        if route.queue.is_default and not route.agent_ids and not route.queue.reasons:
            continue  # a catch-all default is the fallback, not a competitor of specific queues
        if _matches_agent(route, agent_id) and route.queue.takes_reason(reason):
            return route.queue
    return _default_queue(routes)


def _new_ticket_fields(queue: Queue, created_at: datetime, priority: int) -> dict:
    """Queue, handoff time, priority and both SLA deadlines (the queue's targets for that priority)."""
    hours = queue.business_hours
    claim, resolve = queue.sla_minutes(priority)
    return {
        "queue": queue,
        "created_at": created_at,
        "priority": priority,
        "claim_due_at": due_at(created_at, claim, 0, hours),
        "resolve_due_at": due_at(created_at, resolve, 0, hours),
    }


@dataclass(frozen=True)
class RaisedBy:
    """Who raised an escalation: the invocation its span belongs to, that agent and its own prompt version."""

    agent_id: int
    prompt_version: str
    invocation_span_id: str


def raised_by(escalations: list[Escalation]) -> dict[int, RaisedBy]:
    """Escalation id -> the agent invocation that raised it (``monitoring.ingest.attribution``): in a
    multi-agent trace, the sub-agent whose span carried the event, with the prompt version that agent's
    spans carry, not the trace root's. ``escalations`` have their run loaded (select_related). When no
    invocation is found, the escalation's own agent, with the run's prompt version if that agent is
    the run's."""
    owners = owning_invocations((esc.run, esc.span_id, esc.agent_id) for esc in escalations if esc.run is not None)
    found = {}
    for esc in escalations:
        invocation = owners.get((esc.run_id, esc.span_id))
        if invocation is not None:
            found[esc.pk] = RaisedBy(invocation.agent_id, invocation.prompt_version, invocation.span_id)
        else:
            same = esc.run is not None and esc.run.agent_id == esc.agent_id
            found[esc.pk] = RaisedBy(esc.agent_id, esc.run.prompt_version if same else "", "")
    return found


def open_tickets_for_escalations(escalation_ids: Iterable[int], now: datetime | None = None) -> list[Ticket]:
    """One ticket per escalation, idempotently (the unique constraint decides under concurrency)."""
    ids = sorted(set(escalation_ids))
    if not ids:
        return []
    now = now or timezone.now()
    done = set(Ticket.objects.filter(escalation_id__in=ids).values_list("escalation_id", flat=True))
    todo = [i for i in ids if i not in done]
    if not todo:
        return []
    routes = _routes()
    planned: list[tuple[Escalation, dict]] = []
    escalations = list(Escalation.objects.filter(pk__in=todo).select_related("run").order_by("pk"))
    by = raised_by(escalations)
    for esc in escalations:
        who = by[esc.pk]
        queue = route_escalation(routes, who.agent_id, esc.reason)
        fields = _new_ticket_fields(queue, min(esc.occurred_at, now), queue.priority_for(esc.reason, esc.priority))
        fields.update(
            agent_id=who.agent_id, run=esc.run, source=TicketSource.ESCALATION, reason=esc.reason[:255],
            summary=esc.summary, session_id=esc.run.session_id, prompt_version=who.prompt_version,
            invocation_span_id=who.invocation_span_id,
        )
        planned.append((esc, fields))
    try:
        # Fast path (ingest sends many escalations at once): one INSERT for the tickets, one for their
        # events. A concurrent writer that opened one of them first makes it fail as a whole, and the
        # one-by-one path below decides each ticket on the unique constraint instead.
        with transaction.atomic():
            created = Ticket.objects.bulk_create([Ticket(escalation=esc, **fields) for esc, fields in planned])
            TicketEvent.objects.bulk_create([
                TicketEvent(ticket=ticket, kind=EventKind.CREATED, actor=None, at=ticket.created_at, from_status="",
                            to_status=ticket.status, note="", data={"queue": ticket.queue.name})
                for ticket in created
            ])
        return created
    except IntegrityError:
        pass
    created = []
    for esc, fields in planned:
        ticket, was_created = Ticket.objects.get_or_create(escalation=esc, defaults=fields)
        if was_created:
            _log(ticket, EventKind.CREATED, None, "", at=ticket.created_at, data={"queue": ticket.queue.name})
            created.append(ticket)
    return created


LATE_SPAN_NOTE = "whose spans arrived after the ticket opened"


def reattribute_tickets(run_ids: Iterable[int], now: datetime | None = None,
                        note: str = LATE_SPAN_NOTE) -> list[Ticket]:
    """Tickets of these runs whose invocation is now known better: a trace arrives in pieces, in any
    order, so a ticket may have opened before the span of the sub-agent that raised the escalation,
    or whose step failed (a "run failed" rule ticket), was stored. Each such ticket takes that
    invocation's agent, prompt version and span; one that is still open and never claimed is routed
    again for its agent. Logged on the ticket (``note`` says why); returns the tickets changed (their
    context packet is then taken again). Only an attribution found among stored invocations
    replaces what the ticket has."""
    ids = sorted(set(run_ids))
    if not ids:
        return []
    now = now or timezone.now()
    with transaction.atomic():
        tickets = list(
            Ticket.objects.select_for_update(of=("self",)).select_related("escalation__run", "run", "queue", "agent")
            .filter(Q(escalation__isnull=False) | Q(source=TicketSource.RUN_FAILED), run_id__in=ids).order_by("pk")
        )
        escalated = [t for t in tickets if t.escalation is not None and t.escalation.run is not None]
        failed = [t for t in tickets if t.escalation is None and t.run is not None]
        if not escalated and not failed:
            return []
        by = raised_by([t.escalation for t in escalated])
        failing = failing_invocations(t.run for t in failed)
        found = {t.pk: by[t.escalation_id] for t in escalated}
        found.update((t.pk, failed_in(t.run, failing)) for t in failed if t.run_id in failing)
        names = dict(Agent.objects.filter(pk__in={w.agent_id for w in found.values()}).values_list("pk", "name"))
        routes: list[_Route] | None = None
        changed = []
        for ticket in tickets:
            who = found.get(ticket.pk)
            current = (ticket.agent_id, ticket.prompt_version, ticket.invocation_span_id)
            if who is None or not who.invocation_span_id or current == (who.agent_id, who.prompt_version, who.invocation_span_id):
                continue
            ticket.agent_id, ticket.prompt_version = who.agent_id, who.prompt_version
            ticket.invocation_span_id = who.invocation_span_id
            data = {"agent_id": who.agent_id, "prompt_version": who.prompt_version,
                    "invocation_span_id": who.invocation_span_id, "was": list(current)}
            if ticket.status == TicketStatus.OPEN and ticket.first_claimed_at is None and current[0] != who.agent_id:
                routes = routes if routes is not None else _routes()
                _reroute(ticket, routes, who.agent_id, data)
            _save(ticket)
            version = f" · prompt v{who.prompt_version}" if who.prompt_version else ""
            did = "Raised by" if ticket.escalation is not None else "Failed in"
            _log(ticket, EventKind.NOTE, None, ticket.status, at=now, data=data,
                 note=f"{did} {names.get(who.agent_id, who.agent_id)}{version} (invocation"
                      f" {who.invocation_span_id}, {note}).")
            changed.append(ticket)
    return changed


def _reroute(ticket: Ticket, routes: list[_Route], agent_id: int, data: dict) -> None:
    """Route an unclaimed ticket again for the agent it now belongs to (its queue, priority and SLA
    deadlines from its handoff time); a rule ticket no queue rule takes for that agent stays put."""
    if ticket.escalation is not None:
        target = route_escalation(routes, agent_id, ticket.reason)
        priority = target.priority_for(ticket.reason, ticket.escalation.priority)
    else:
        target = _route_rule(routes, agent_id, ticket.source) or ticket.queue
        priority = target.rule_priority
    if target.pk == ticket.queue_id:
        return
    data["from_queue"], data["to_queue"] = ticket.queue.name, target.name
    fields = _new_ticket_fields(target, ticket.created_at, priority)
    ticket.queue, ticket.priority = target, fields["priority"]
    ticket.claim_due_at, ticket.resolve_due_at = fields["claim_due_at"], fields["resolve_due_at"]


def attribute_stored_tickets(after_id: int = 0, chunk: int = 500) -> tuple[int, int | None]:
    """Tickets stored without an invocation (opened before tickets named one): escalation tickets
    take the invocation that raised them (``reattribute_tickets``), rule tickets the run's
    top invocation (a failed run's, the invocation that failed). One chunk of tickets after ``after_id``, in id order; returns (tickets changed,
    the last id read, None when none was left) so a caller can go on from there."""
    rows = list(Ticket.objects.filter(pk__gt=after_id, invocation_span_id="", run__isnull=False)
                .order_by("pk").values_list("pk", "run_id", "escalation_id", "run__root_span_id")[:chunk])
    if not rows:
        return 0, None
    changed = reattribute_tickets({run_id for _, run_id, esc, _ in rows if esc},
                                  note="attributed to the invocation that raised it")
    rule = [(pk, root) for pk, _, esc, root in rows if not esc and root]
    for pk, root in rule:
        Ticket.objects.filter(pk=pk, invocation_span_id="").update(invocation_span_id=root)
    # A failed run's rule ticket then moves to the invocation that failed, where one is known.
    failed = reattribute_tickets({run_id for _, run_id, esc, _ in rows if not esc},
                                 note="attributed to the invocation that failed")
    return len(changed) + len(rule) + len(failed), rows[-1][0]


def top_of(run: Run) -> RaisedBy:
    """The trace's root agent, its prompt version and root span (a rule ticket on the whole run)."""
    return RaisedBy(run.agent_id, run.prompt_version, run.root_span_id)


def failed_in(run: Run, failing: dict[int, Invocation]) -> RaisedBy:
    """Where a failed run failed (``failing_invocations``): in a multi-agent trace, the sub-agent
    whose step failed, with its own prompt version; the root when no invocation is known yet."""
    invocation = failing.get(run.pk)
    if invocation is None:
        return top_of(run)
    return RaisedBy(invocation.agent_id, invocation.prompt_version, invocation.span_id)


def _rule_trigger(run: Run) -> str | None:
    if run.status == RunStatus.ERROR:
        return TicketSource.RUN_FAILED
    floor = run.agent.slo_min_quality
    if floor is not None and run.quality_score is not None and run.quality_score < float(floor):
        return TicketSource.LOW_QUALITY
    return None


def _route_rule(routes: list[_Route], agent_id: int, source: str) -> Queue | None:
    flag = "open_on_run_failure" if source == TicketSource.RUN_FAILED else "open_on_low_quality"
    for route in routes:
        if getattr(route.queue, flag) and _matches_agent(route, agent_id):
            return route.queue
    return None


def open_tickets_for_runs(run_ids: Iterable[int], now: datetime | None = None) -> list[Ticket]:
    """Queue rules: a failed or low-quality run opens one ticket (once per run) in the first queue
    that asks for it. Runs that escalated already get their ticket from the escalation."""
    ids = sorted(set(run_ids))
    if not ids:
        return []
    now = now or timezone.now()
    routes = [r for r in _routes() if r.queue.open_on_run_failure or r.queue.open_on_low_quality]
    if not routes:
        return []
    runs = (
        Run.objects.filter(pk__in=ids, has_escalation=False)
        .filter(Q(status=RunStatus.ERROR) | Q(quality_score__isnull=False))
        .exclude(pk__in=Ticket.objects.filter(run_id__in=ids).values("run_id"))
        .select_related("agent")
        .order_by("pk")
    )
    runs = list(runs)
    failing = failing_invocations(run for run in runs if run.status == RunStatus.ERROR)
    created: list[Ticket] = []
    for run in runs:
        source = _rule_trigger(run)
        who = failed_in(run, failing) if source == TicketSource.RUN_FAILED else top_of(run)
        queue = (_route_rule(routes, who.agent_id, source) or _route_rule(routes, run.agent_id, source)) if source else None
        if queue is None:
            continue
        fields = _new_ticket_fields(queue, min(run.ended_at, now), queue.rule_priority)
        reason = "Run failed" if source == TicketSource.RUN_FAILED else "Quality below minimum"
        detail = run.error_type if source == TicketSource.RUN_FAILED else f"quality {run.quality_score:.2f}"
        fields.update(
            agent_id=who.agent_id, source=source, reason=reason, summary=f"{reason}: {detail}".strip(": "),
            session_id=run.session_id, prompt_version=who.prompt_version, invocation_span_id=who.invocation_span_id,
        )
        ticket, was_created = Ticket.objects.get_or_create(run=run, escalation=None, defaults=fields)
        if was_created:
            _log(ticket, EventKind.CREATED, None, "", at=ticket.created_at, data={"queue": queue.name, "rule": source})
            created.append(ticket)
    return created


def reroute_unclaimed_tickets(from_queue: Queue, actor=None, now: datetime | None = None) -> int:
    """Route again the open, never-claimed tickets of ``from_queue`` with the current rules (after
    operations changed them, or to empty the automatic fallback queue). Deadlines are recomputed
    from the handoff time with the new queue's SLA; each move is logged."""
    now = now or timezone.now()
    routes = _routes()
    moved = 0
    with transaction.atomic():
        tickets = list(
            Ticket.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("escalation", "queue")
            .filter(queue=from_queue, status=TicketStatus.OPEN, first_claimed_at__isnull=True)
            .order_by("pk")
        )
        for ticket in tickets:
            if ticket.escalation is not None:
                target = route_escalation(routes, ticket.agent_id, ticket.reason)
            else:
                target = _route_rule(routes, ticket.agent_id, ticket.source) or from_queue
            if target.pk == from_queue.pk:
                continue
            priority = ticket.priority
            if ticket.escalation is not None:
                priority = target.priority_for(ticket.reason, ticket.escalation.priority)
            fields = _new_ticket_fields(target, ticket.created_at, priority)
            ticket.queue, ticket.priority = target, priority
            ticket.claim_due_at, ticket.resolve_due_at = fields["claim_due_at"], fields["resolve_due_at"]
            _save(ticket)
            _log(ticket, EventKind.REASSIGNED, actor, TicketStatus.OPEN, at=now,
                 data={"from_queue": from_queue.name, "to_queue": target.name})
            moved += 1
    return moved
