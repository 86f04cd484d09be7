"""Demo data for ROI: an assumptions ledger with history, budgets and, when needed, a year of run history.

Idempotent: each part checks what already exists and adds nothing on a second run.
"""

from __future__ import annotations

import random
import secrets
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D
from typing import TextIO

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from agentops.models import Agent, Department
from demo.simulator import SUB_AGENTS_ONLY
from roi.calculations import add_months
from roi.models import REPORT_CURRENCY, AssumptionKind, AssumptionRow, Budget
from roi.services import AssumptionChange, record_assumption, set_budget

HISTORY_RUN_NAME = "roi demo history"
HISTORY_MONTHS = 12
HISTORY_TICKET_REASON = "roi demo history"

# department name: (hourly cost, currency, monthly platform cost, one-off implementation cost)
DEPARTMENT_FIGURES: dict[str, tuple[str, str, str, str]] = {
    "Customer Support": ("38", "USD", "400", "6000"),
    "Finance Ops": ("52", "USD", "150", "2500"),
    "IT Service Desk": ("44", "EUR", "150", "3000"),
    "Sales": ("55", "USD", "120", "1500"),
}


def seed(stdout: TextIO) -> None:
    fiona = User.objects.filter(username="fiona").first()
    if fiona is None or not Agent.objects.exists():
        stdout.write("roi: registry not seeded (no fiona or no agents); skipped")
        return
    now = timezone.now()
    runs = seed_run_history(now)
    rows = seed_assumptions(fiona, now)
    budgets = seed_budgets(fiona, now.date())
    stdout.write(f"roi: {rows} assumption rows, {budgets} budgets, {runs} historical runs added")


def _first_of_month(day: date) -> date:
    return day.replace(day=1)


def seed_assumptions(user: User, now: datetime) -> int:
    """The ledger, a year back, with mid-period changes that each carry a reason."""
    if AssumptionRow.objects.exists():
        return 0
    start = add_months(_first_of_month(now.date()), -HISTORY_MONTHS)
    three_months_ago = add_months(_first_of_month(now.date()), -3)
    departments = {d.name: d for d in Department.objects.filter(name__in=DEPARTMENT_FIGURES)}
    changes: list[tuple[AssumptionChange, date]] = []

    def add(change: AssumptionChange) -> None:
        changes.append((change, change.effective_from))

    add(AssumptionChange(AssumptionKind.RECAPTURE, D("0.7"), start, "Company default: 70% of saved time is redeployed "
                         "to other work (range from the 2025 workforce study).", value_low=D("0.5"), value_high=D("0.85")))
    add(AssumptionChange(AssumptionKind.FX_RATE, D("1.08"), start, "Treasury month-end rate.", currency="EUR"))
    add(AssumptionChange(AssumptionKind.FX_RATE, D("1.10"), add_months(start, 9), "Treasury month-end rate.",
                         currency="EUR"))
    for name, (hourly, currency, platform, one_off) in DEPARTMENT_FIGURES.items():
        dept = departments.get(name)
        if dept is None:
            continue
        rate = D(hourly)
        add(AssumptionChange(AssumptionKind.HOURLY_COST, rate, start, "Loaded rate from HR: salary, benefits, "
                             "office and management overhead.", department=dept, currency=currency,
                             value_low=rate * D("0.9"), value_high=rate * D("1.1")))
        add(AssumptionChange(AssumptionKind.OTHER_COST, D(platform), start, "Platform share: vector store, "
                             "observability and hosting.", department=dept, currency=currency))
        add(AssumptionChange(AssumptionKind.ONE_OFF_COST, D(one_off), start, "Implementation project (integration "
                             "and prompt engineering).", department=dept, currency=currency))
    support = departments.get("Customer Support")
    if support:
        # Changes mid-period (the 15th), so a quarter's report spans both values.
        mid = three_months_ago.replace(day=15)
        add(AssumptionChange(AssumptionKind.HOURLY_COST, D("41"), mid, "Annual pay review: 8% rise for support staff.",
                             department=support, currency="USD", value_low=D("37"), value_high=D("45")))
        add(AssumptionChange(AssumptionKind.RECAPTURE, D("0.8"), add_months(start, 6), "Support redeploys saved time "
                             "to proactive outreach (measured).", department=support, value_low=D("0.65"),
                             value_high=D("0.9")))
    for agent in Agent.objects.exclude(baseline_human_minutes__isnull=True).order_by("slug"):
        minutes = agent.baseline_human_minutes
        add(AssumptionChange(AssumptionKind.BASELINE_MINUTES, minutes, start, "Time-and-motion sample of 40 cases "
                             "handled without the agent.", agent=agent, value_low=(minutes * D("0.75")).quantize(D("0.1")),
                             value_high=(minutes * D("1.25")).quantize(D("0.1"))))
        if agent.slug == "refund-agent":
            add(AssumptionChange(AssumptionKind.BASELINE_MINUTES, minutes - 2, three_months_ago.replace(day=10),
                                 "Re-measured after the refund form was simplified.", agent=agent,
                                 value_low=minutes - 4, value_high=minutes + 1))
        if agent.slug == "support-orchestrator":
            add(AssumptionChange(AssumptionKind.OTHER_COST, D("60"), start, "Licence for the routing add-on.",
                                 agent=agent, currency="USD"))
    with transaction.atomic():
        for change, effective in sorted(changes, key=lambda c: c[1]):
            recorded = datetime.combine(effective, datetime.min.time(), tzinfo=UTC) - timedelta(days=2)
            record_assumption(change, user, changed_at=min(recorded, now))
    return len(changes)


def seed_budgets(user: User, today: date) -> int:
    """This month's and last month's budgets: one department is set tight so it shows as over budget."""
    created = 0
    months = (_first_of_month(today), add_months(_first_of_month(today), -1))
    for dept in Department.objects.filter(name__in=DEPARTMENT_FIGURES):
        amount = D("200") if dept.name == "Customer Support" else D("900")
        for month in months:
            if not Budget.objects.filter(department=dept, month=month).exists():
                set_budget(month=month, amount=amount, department=dept, set_by=user, currency=REPORT_CURRENCY)
                created += 1
    agent = Agent.objects.filter(slug="refund-agent").first()
    if agent and not Budget.objects.filter(agent=agent, month=months[0]).exists():
        set_budget(month=months[0], amount=D("150"), agent=agent, set_by=user)
        created += 1
    return created


def seed_run_history(now: datetime) -> int:
    """Compact historical runs (and tickets for their handoffs) so the report has a year to compare.

    Only when the monitoring seed left fewer than ~3 months of runs. The rows are real Run rows,
    marked ``name = "roi demo history"`` (tickets: ``reason = "roi demo history"``), one per
    simulated run, ending where the earliest existing run begins so nothing overlaps. Volume grows
    month on month (adoption), so early months show a loss and later ones a return.
    """
    from monitoring.models import Run

    if Run.objects.filter(name=HISTORY_RUN_NAME).exists():
        return 0
    earliest = Run.objects.order_by("started_at").values_list("started_at", flat=True).first()
    history_end = min(earliest or now, now)
    if earliest and earliest < now - timedelta(days=90):
        return 0
    start = datetime.combine(add_months(_first_of_month(now.date()), -HISTORY_MONTHS), datetime.min.time(), tzinfo=UTC)
    rng = random.Random(2026)
    # A run is a trace, started by its root agent: the sub-agents the simulator only ever invokes from
    # other agents (demo.simulator.SUB_AGENTS_ONLY) start none; their work is inside their callers' tasks.
    agents = list(Agent.objects.exclude(baseline_human_minutes__isnull=True).exclude(slug__in=SUB_AGENTS_ONLY)
                  .order_by("slug"))
    runs: list[Run] = []
    span = (history_end - start).total_seconds()
    if span <= 0:
        return 0
    for agent in agents:
        max_cost = agent.slo_max_cost_per_run or D("0.02")
        for month_index in range(HISTORY_MONTHS + 1):
            month_start = add_months(start.date(), month_index)
            count = 8 + 4 * month_index + rng.randint(0, 5)
            for _ in range(count):
                started = datetime.combine(month_start, datetime.min.time(), tzinfo=UTC) + timedelta(
                    seconds=rng.randint(0, 27 * 86400))
                if started >= history_end:
                    continue
                runs.append(_history_run(agent, started, max_cost, rng))
    with transaction.atomic():
        Run.objects.bulk_create(runs, batch_size=1000)
        top_invocations(runs)
        _history_tickets([r for r in runs if r.has_escalation], rng)
    return len(runs)


def top_invocations(runs: list) -> None:
    """Each stored run of one agent, written without its spans, gets its one invocation with the run's
    own figures (what ingest derives for a single-agent trace): per-agent figures, ROI cost and
    handoff metrics count invocations."""
    from monitoring.models import Invocation

    Invocation.objects.bulk_create([
        Invocation(
            run_id=run.pk, trace_id=run.trace_id, span_id=run.root_span_id, agent_id=run.agent_id, name=run.name,
            started_at=run.started_at, ended_at=run.ended_at, duration_ms=run.duration_ms, status=run.status,
            error_type=run.error_type, model=run.model, prompt_version=run.prompt_version, prompt_id=run.prompt_id,
            step_count=run.step_count, input_tokens=run.input_tokens, output_tokens=run.output_tokens, cost=run.cost,
            total_input_tokens=run.input_tokens, total_output_tokens=run.output_tokens, total_cost=run.cost,
            quality_score=run.quality_score, escalations=int(run.has_escalation),
        )
        for run in runs
    ], batch_size=1000)


def _history_run(agent: Agent, started: datetime, max_cost: D, rng: random.Random):
    from monitoring.models import Run, RunStatus

    roll = rng.random()
    status = RunStatus.ERROR if roll < 0.03 else RunStatus.OK
    escalated = 0.03 <= roll < 0.11
    input_tokens, output_tokens = rng.randint(800, 4000), rng.randint(100, 700)
    duration = rng.uniform(800, 6000)
    return Run(
        trace_id=secrets.token_hex(16), agent=agent, root_span_id=secrets.token_hex(8), name=HISTORY_RUN_NAME,
        started_at=started, ended_at=started + timedelta(milliseconds=duration), duration_ms=duration,
        status=status, error_type="TimeoutError" if status == RunStatus.ERROR else "", model=agent.model,
        input_tokens=input_tokens, output_tokens=output_tokens,
        cost=(max_cost * D(rng.randint(25, 90)) / 100).quantize(D("0.000001")), has_escalation=escalated,
        quality_score=rng.uniform(0.75, 0.98), step_count=1,
    )


def _history_tickets(runs: list, rng: random.Random) -> None:
    """Closed tickets for the historical handoffs, with handling times of 4 to 25 minutes."""
    from handoffs.models import Outcome, Queue, RootCause, Ticket, TicketSource, TicketStatus

    queue = Queue.objects.filter(is_default=True).first() or Queue.objects.order_by("id").first()
    if queue is None:
        queue = Queue.objects.create(name="ROI demo history", slug="roi-demo-history", description="Closed tickets of the ROI demo history.")
    causes = list(RootCause.objects.filter(is_active=True).order_by("id")) or [
        RootCause.objects.get_or_create(name="Missing knowledge", defaults={"slug": "missing-knowledge"})[0]
    ]
    tickets = []
    for run in runs:
        created = run.ended_at
        resolved = created + timedelta(minutes=rng.randint(10, 240))
        tickets.append(Ticket(
            queue=queue, agent_id=run.agent_id, run=run, source=TicketSource.ESCALATION, reason=HISTORY_TICKET_REASON,
            status=TicketStatus.CLOSED, created_at=created, first_claimed_at=created + timedelta(minutes=5),
            claim_due_at=created + timedelta(minutes=30), resolve_due_at=created + timedelta(hours=4),
            handle_seconds=float(rng.randint(240, 1500)), resolved_at=resolved, closed_at=resolved,
            outcome=rng.choice([Outcome.RESOLVED_BY_HUMAN, Outcome.CORRECTED_AGENT_ANSWER, Outcome.ACTION_TAKEN]),
            root_cause=rng.choice(causes),
        ))
    Ticket.objects.bulk_create(tickets, batch_size=1000)
