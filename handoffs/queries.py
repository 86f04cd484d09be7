"""Read-only selectors for the handoff pages. Each returns everything its page needs in a fixed,
small number of queries (asserted in tests/handoffs/test_views.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import (
    Avg,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import Extract, TruncDay
from django.urls import reverse
from django.utils import timezone

from agentops.dbfunctions import PercentileCont
from agentops.models import ROLE_REVIEWERS
from agentops.scoping import scope_q, scope_rows
from monitoring.models import Invocation, Run, Step

from . import context
from .models import (
    ACTIVE_STATUSES,
    HELD_STATUSES,
    EventKind,
    Queue,
    RootCause,
    SavedReply,
    Ticket,
    TicketEvent,
    TicketStatus,
    work_order,
)

User = get_user_model()

QUEUE_PAGE_SIZE = 50
SEARCH_LIMIT = 50


def _seconds(expr) -> Extract:
    return Extract(ExpressionWrapper(expr, output_field=DurationField()), "epoch")


# --- queues --------------------------------------------------------------------------------------


def queue_summaries(now: datetime | None = None, user=None) -> list[Queue]:
    """Active queues with their depth, held count, breached count and oldest open ticket (1 query);
    counting only the tickets of ``user``'s departments when they are limited."""
    now = now or timezone.now()
    mine = scope_q(user, "tickets__agent__department_id")
    open_q = Q(tickets__status=TicketStatus.OPEN) & mine
    breached = (open_q & Q(tickets__first_claimed_at__isnull=True, tickets__claim_due_at__lt=now)) | (
        Q(tickets__status__in=[TicketStatus.OPEN, TicketStatus.CLAIMED])
        & Q(tickets__first_claimed_at__isnull=False, tickets__resolve_due_at__lt=now)
    )
    return list(
        Queue.objects.filter(is_active=True)
        .annotate(
            open_count=Count("tickets", filter=open_q),
            claimed_count=Count("tickets", filter=Q(tickets__status=TicketStatus.CLAIMED) & mine),
            pending_count=Count("tickets", filter=Q(tickets__status=TicketStatus.PENDING) & mine),
            breached_count=Count("tickets", filter=breached & mine),
            oldest_open_at=Min("tickets__created_at", filter=open_q),
        )
        .order_by("position", "name")
    )


@dataclass(frozen=True)
class TicketFilters:
    status: str = "active"  # active (open+claimed+pending) | open | claimed | pending
    agent: int | None = None
    reason: str = ""
    priority: int | None = None


def _filtered(queue: Queue, filters: TicketFilters, user=None) -> QuerySet:
    qs = scope_rows(Ticket.objects.filter(queue=queue), user)
    if filters.status == "active":
        qs = qs.filter(status__in=ACTIVE_STATUSES)
    else:
        qs = qs.filter(status=filters.status)
    if filters.agent:
        qs = qs.filter(agent_id=filters.agent)
    if filters.reason:
        qs = qs.filter(reason__icontains=filters.reason)
    if filters.priority:
        qs = qs.filter(priority=filters.priority)
    return qs


@dataclass
class TicketPage:
    tickets: list[Ticket]
    total: int  # tickets matching the filters
    by_status: dict[str, int]  # open / claimed / pending among them
    page: int
    pages: int
    state: str  # changes whenever any matching ticket changes (the light refresh compares it)

    @property
    def first(self) -> int:
        return (self.page - 1) * QUEUE_PAGE_SIZE + 1 if self.total else 0

    @property
    def last(self) -> int:
        return min(self.page * QUEUE_PAGE_SIZE, self.total)


def queue_state(queue: Queue, filters: TicketFilters, user=None) -> tuple[int, dict[str, int], str]:
    """Count of matching tickets, by status, and a state token (1 query): the token changes when a
    matching ticket is added, leaves the filter, or is written (every write bumps its version)."""
    row = _filtered(queue, filters, user).aggregate(
        total=Count("id"), versions=Sum("version"), top=Max("id"),
        open=Count("id", filter=Q(status=TicketStatus.OPEN)),
        claimed=Count("id", filter=Q(status=TicketStatus.CLAIMED)),
        pending=Count("id", filter=Q(status=TicketStatus.PENDING)),
    )
    by_status = {k: row[k] for k in ("open", "claimed", "pending")}
    token = f"{row['total']}-{row['versions'] or 0}-{row['top'] or 0}"
    return row["total"], by_status, token


def queue_tickets(queue: Queue, filters: TicketFilters, page: int = 1, user=None) -> TicketPage:
    """One page of the queue's tickets in work order (``models.work_order``), with counts (2 queries);
    ``user`` limited to departments: their agents' tickets only."""
    total, by_status, token = queue_state(queue, filters, user)
    pages = max((total + QUEUE_PAGE_SIZE - 1) // QUEUE_PAGE_SIZE, 1)
    page = min(max(page, 1), pages)
    start = (page - 1) * QUEUE_PAGE_SIZE
    tickets = list(
        _filtered(queue, filters, user).select_related("agent", "assignee")
        .order_by(*work_order())[start:start + QUEUE_PAGE_SIZE]
    )
    return TicketPage(tickets=tickets, total=total, by_status=by_status, page=page, pages=pages, state=token)


def search_tickets(text: str, status: str = "", user=None) -> list[Ticket]:
    """Tickets matching ``text``: a ticket number, an exact trace or session id, or words in the
    reason, summary or agent name; newest first, at most ``SEARCH_LIMIT`` (1 query)."""
    text = text.strip().lstrip("#")
    if not text:
        return []
    match = (Q(reason__icontains=text) | Q(summary__icontains=text) | Q(agent__name__icontains=text)
             | Q(session_id=text) | Q(run__trace_id=text.lower()))
    if text.isdigit() and int(text) < 2**31:
        match |= Q(pk=int(text))
    qs = scope_rows(Ticket.objects.filter(match), user)
    if status:
        qs = qs.filter(status=status)
    return list(qs.select_related("agent", "queue", "assignee").order_by("-created_at", "-id")[:SEARCH_LIMIT])


def saved_replies_for(queue: Queue) -> list[SavedReply]:
    """Active saved replies offered in ``queue`` (those for no queue in particular count too)."""
    return list(
        SavedReply.objects.filter(is_active=True).filter(Q(queues=queue) | Q(queues__isnull=True))
        .distinct().order_by("position", "name")
    )


def queue_agent_choices(queue: Queue, user=None) -> list[tuple[int, str]]:
    """Agents with active tickets in the queue, for the filter (1 query)."""
    rows = (
        scope_rows(Ticket.objects.filter(queue=queue, status__in=ACTIVE_STATUSES), user)
        .values_list("agent_id", "agent__name")
        .distinct()
        .order_by("agent__name")
    )
    return list(rows)


def my_tickets(user, now: datetime | None = None) -> dict[str, list[Ticket]]:
    """The reviewer's held tickets (most urgent first) and what they resolved in the last 7 days (2 queries)."""
    now = now or timezone.now()
    base = scope_rows(Ticket.objects.filter(assignee=user), user).select_related("agent", "queue")
    held = list(base.filter(status__in=HELD_STATUSES).order_by(*work_order()))
    recent = list(
        scope_rows(Ticket.objects.filter(resolved_by=user, resolved_at__gte=now - timedelta(days=7)), user)
        .select_related("agent", "queue", "root_cause")
        .order_by("-resolved_at")[:50]
    )
    return {"held": held, "recent": recent}


# --- one ticket ----------------------------------------------------------------------------------


def get_ticket(pk: int) -> Ticket | None:
    return (
        Ticket.objects.select_related(
            "queue", "agent", "run", "escalation", "assignee", "root_cause", "resolved_by", "run__prompt"
        )
        .filter(pk=pk)
        .first()
    )


def run_trace_url(run: Run | None) -> str | None:
    """The run's trace view, if the ticket has a run."""
    return reverse("monitoring:run_detail", args=[run.trace_id]) if run is not None else None


@dataclass
class TicketContext:
    ticket: Ticket
    run: Run | None  # the stored run, else the one in the ticket's snapshot (past telemetry retention)
    from_snapshot: bool
    steps: list[Step]
    tools: list[Step]
    events: list[TicketEvent]
    session_tickets: list[Ticket]
    root_causes: list[RootCause]
    trace_url: str | None


def ticket_context(ticket: Ticket) -> TicketContext:
    """Everything the agent knew, plus the ticket's history (4 queries after ``get_ticket``). From the
    stored run while it is kept, else from the snapshot the ticket took (``handoffs.context``)."""
    run, steps, from_snapshot = ticket.run, [], False  # get_ticket joined it: None once the run is gone
    if run is not None:
        steps = context.steps_of([run]).get(run.pk, [])
    else:
        run, steps = context.restore(ticket.context)
        from_snapshot = run is not None
    session_tickets: list[Ticket] = []
    if ticket.session_id:
        session_tickets = list(
            Ticket.objects.filter(session_id=ticket.session_id)
            .exclude(pk=ticket.pk)
            .select_related("root_cause")
            .order_by("-created_at")[:20]
        )
    return TicketContext(
        ticket=ticket,
        run=run,
        from_snapshot=from_snapshot,
        steps=steps,
        tools=[s for s in steps if s.kind == "tool"],
        events=list(ticket.events.select_related("actor").order_by("at", "id")),
        session_tickets=session_tickets,
        root_causes=list(RootCause.objects.filter(is_active=True)),
        trace_url=None if from_snapshot else run_trace_url(run),
    )


def reviewer_choices() -> QuerySet:
    return User.objects.filter(Q(groups__name=ROLE_REVIEWERS) | Q(is_superuser=True), is_active=True).distinct().order_by(
        "username"
    )


# --- metrics -------------------------------------------------------------------------------------

AGE_BUCKETS: list[tuple[str, timedelta | None]] = [
    ("< 1 h", timedelta(hours=1)),
    ("1-4 h", timedelta(hours=4)),
    ("4-24 h", timedelta(hours=24)),
    ("1-3 d", timedelta(days=3)),
    ("> 3 d", None),
]


@dataclass
class QueueMetrics:
    since: datetime
    until: datetime
    depth_by_age: list[tuple[str, int]]
    arrivals_by_day: list[tuple[datetime, int]]
    totals: dict
    by_agent: list[dict]
    by_prompt: list[dict]
    by_reason: list[dict]


def _depth_by_age(tickets: QuerySet, now: datetime) -> list[tuple[str, int]]:
    aggregates = {}
    lower = None
    for i, (_label, upper) in enumerate(AGE_BUCKETS):
        cond = Q(status__in=ACTIVE_STATUSES)
        if lower is not None:
            cond &= Q(created_at__lte=now - lower)
        if upper is not None:
            cond &= Q(created_at__gt=now - upper)
        aggregates[f"b{i}"] = Count("id", filter=cond)
        lower = upper
    row = tickets.aggregate(**aggregates)
    return [(label, row[f"b{i}"]) for i, (label, _u) in enumerate(AGE_BUCKETS)]


def queue_metrics(queue: Queue | None, since: datetime, until: datetime, now: datetime | None = None,
                  user=None) -> QueueMetrics:
    """Operations' view of a queue (or all queues) over [since, until), and its depth at ``now`` (8 queries);
    ``user`` limited to departments: their agents' tickets only."""
    now = now or timezone.now()
    tickets = scope_rows(Ticket.objects.all() if queue is None else Ticket.objects.filter(queue=queue), user)
    in_period = tickets.filter(created_at__gte=since, created_at__lt=until)
    resolved = Q(resolved_at__isnull=False)
    to_claim = _seconds(F("first_claimed_at") - F("created_at"))

    totals = in_period.aggregate(
        arrivals=Count("id"),
        claimed=Count("id", filter=Q(first_claimed_at__isnull=False)),
        claim_p50=PercentileCont(to_claim, 0.5, filter=Q(first_claimed_at__isnull=False)),
        claim_p90=PercentileCont(to_claim, 0.9, filter=Q(first_claimed_at__isnull=False)),
        claim_met=Count("id", filter=Q(first_claimed_at__lte=F("claim_due_at"))),
        resolved=Count("id", filter=resolved),
        resolve_met=Count("id", filter=resolved & Q(resolved_at__lte=F("resolve_due_at"))),
        handle_avg=Avg("handle_seconds", filter=resolved),
        handle_p50=PercentileCont("handle_seconds", 0.5, filter=resolved),
        reopened=Count("id", filter=Q(reopen_count__gt=0)),
        ever_resolved=Count("id", filter=resolved | Q(reopen_count__gt=0)),
    )
    totals["lease_expiries"] = scope_rows(TicketEvent.objects.all(), user, "ticket__agent__department_id").filter(
        kind=EventKind.LEASE_EXPIRED, at__gte=since, at__lt=until,
        **({"ticket__queue": queue} if queue is not None else {}),
    ).count()
    totals["claim_compliance"] = _ratio(totals["claim_met"], totals["claimed"])
    totals["resolve_compliance"] = _ratio(totals["resolve_met"], totals["resolved"])
    totals["reopen_rate"] = _ratio(totals["reopened"], totals["ever_resolved"])

    arrivals = list(
        in_period.annotate(day=TruncDay("created_at")).values_list("day").annotate(n=Count("id")).order_by("day")
    )
    return QueueMetrics(
        since=since, until=until,
        depth_by_age=_depth_by_age(tickets, now),
        arrivals_by_day=arrivals,
        totals=totals,
        by_agent=_handoff_rate_by_agent(in_period, since, until),
        by_prompt=_handoff_rate_by_prompt(in_period, since, until),
        by_reason=list(in_period.values("reason").annotate(tickets=Count("id")).order_by("-tickets", "reason")[:15]),
    )


def _invocation_rates(since: datetime, until: datetime, agent_ids: set[int], by_prompt: bool) -> dict[tuple, dict]:
    """Per agent (and its own prompt version): the agent's invocations started in the period (its own
    runs, as a sub-agent too), how many raised an escalation, how many got a ticket (1 query). The
    same invocations, by the same start time, as the overview's escalation rate of an agent."""
    keys = ["agent_id", "prompt_version"] if by_prompt else ["agent_id"]
    ticketed = Exists(Ticket.objects.filter(run_id=OuterRef("run_id"), invocation_span_id=OuterRef("span_id")))
    rows = (
        Invocation.objects.filter(agent_id__in=agent_ids, started_at__gte=since, started_at__lt=until)
        .values(*keys)
        .annotate(runs=Count("id"), escalated=Count("id", filter=Q(escalations__gt=0)),
                  ticketed=Count("id", filter=Q(ticketed)))
    )
    return {tuple(r[k] for k in keys): r for r in rows}


def _with_rates(row: dict, figures: dict | None) -> dict:
    figures = figures or {}
    row["runs"] = figures.get("runs", 0)
    row["escalated"], row["ticketed"] = figures.get("escalated", 0), figures.get("ticketed", 0)
    row["escalation_rate"] = _ratio(row["escalated"], row["runs"])
    row["rate"] = _ratio(row["ticketed"], row["runs"])  # invocations handed to a person
    return row


def _handoff_rate_by_prompt(in_period: QuerySet, since: datetime, until: datetime) -> list[dict]:
    """For the (agent, own prompt version) pairs with the most tickets: the share of that agent's
    invocations on that version (started in the period) that escalated, and that were handed to a
    person (2 queries). A ticket's agent and version are those of the invocation that raised it."""
    rows = list(
        in_period.values("agent_id", "agent__name", "prompt_version").annotate(tickets=Count("id"))
        .order_by("-tickets", "agent__name")[:20]
    )
    rates = _invocation_rates(since, until, {r["agent_id"] for r in rows}, by_prompt=True)
    return [_with_rates(row, rates.get((row["agent_id"], row["prompt_version"]))) for row in rows]


def _ratio(part: int | None, whole: int | None) -> float | None:
    return (part or 0) / whole if whole else None


def _handoff_rate_by_agent(in_period: QuerySet, since: datetime, until: datetime) -> list[dict]:
    """For the agents with tickets in the period: the share of their invocations (started in the
    period) that escalated (the overview's escalation rate of the agent) and that were handed to a
    person, escalated or sent by a queue rule (the handoff rate); also the tickets opened in the
    period (2 queries)."""
    per_agent = list(in_period.values("agent_id", "agent__name").annotate(tickets=Count("id")).order_by("-tickets"))
    rates = _invocation_rates(since, until, {r["agent_id"] for r in per_agent}, by_prompt=False)
    return [_with_rates(row, rates.get((row["agent_id"],))) for row in per_agent]
