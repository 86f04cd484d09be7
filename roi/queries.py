"""Read-only selectors for the ROI pages.

The monthly report aggregates ``monitoring.Run`` (customer tasks, on their root agent) and
``monitoring.Invocation`` (each agent's own spend) directly (GROUP BY agent and UTC day over an
indexed ``started_at`` range) rather than the live-dashboard rollups: a finance report is read a few
times a month, must reconcile to the cent with the raw rows, and needs per-run facts (was there a
handoff ticket?) that rollup cells do not keep. Tickets come from ``handoffs.Ticket``. Days whose
runs telemetry retention dropped are read from their archived figures (``roi.archive``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, DecimalField, Exists, Max, OuterRef, Q, Sum
from django.db.models.functions import Cast, TruncDate

from agentops.models import Agent, Department
from agentops.scoping import department_ids, scope_agents, scope_q
from handoffs.models import Ticket, TicketStatus
from monitoring.models import Invocation, Run, RunStatus

from .calculations import (
    ZERO,
    AgentDay,
    AgentInfo,
    Assumption,
    Ledger,
    Period,
    Report,
    add_months,
    compute_report,
    days_in_month,
    previous_period,
    prorated_monthly_cost,
    trailing_months,
    year_earlier,
)
from .models import REPORT_CURRENCY, ArchivedRunDay, AssumptionKind, AssumptionRow, Budget, PeriodClose

# Tickets whose human work is finished; a reopened ticket leaves this set until it is resolved again.
FINISHED_TICKET_STATUSES = (TicketStatus.RESOLVED, TicketStatus.CLOSED)


def utc_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


# --- inputs ---------------------------------------------------------------------------------------


def _scoped_rows(rows, user):
    """Assumption rows (or budgets) a user limited to departments may use: their agents' and
    departments' rows, and company-wide rates; not another department's rows, and not company-wide
    costs (those are not their department's figures)."""
    if department_ids(user) is None:
        return rows
    company_rate = Q(agent__isnull=True, department__isnull=True)
    if rows.model is AssumptionRow:
        company_rate &= ~Q(kind__in=[AssumptionKind.OTHER_COST, AssumptionKind.ONE_OFF_COST])
    return rows.filter(scope_q(user) | Q(agent__isnull=True) & scope_q(user, "department_id") | company_rate)


def load_ledger(user=None) -> Ledger:
    return Ledger(
        Assumption(
            id=r.id, kind=r.kind, low=r.value_low, base=r.value_base, high=r.value_high,
            effective_from=r.effective_from, agent_id=r.agent_id, department_id=r.department_id,
            currency=r.currency,
        )
        for r in _scoped_rows(AssumptionRow.objects.all(), user)
    )


def agent_directory(user=None) -> tuple[dict[int, AgentInfo], dict[int, str]]:
    agents = {
        a.id: AgentInfo(a.id, a.name, a.slug, a.department_id, a.department.name if a.department else "")
        for a in scope_agents(Agent.objects.select_related("department"), user)
    }
    departments = dict(scope_agents(Department.objects.all(), user, "pk").values_list("id", "name"))
    return agents, departments


def run_activity(start: date, end: date) -> list[dict]:
    """Per agent and UTC day: runs, automated runs, handoffs and model cost, from the stored telemetry
    and, for days past telemetry retention, from their archived figures (``roi.archive``).

    Value is counted once per customer task: runs, automated runs and handoffs are traces, on their
    root agent and the day the trace started. Cost is each agent's own spend: the own cost of its
    invocations (nested invocations of other agents excluded), on the day each started, so an
    orchestrator is not charged for its sub-agents and no cost is counted twice.

    Automated: finished OK, no escalation and no handoff ticket (a reopened case always has a
    ticket on the run, so it is never counted as automated).
    """
    archived = list(
        ArchivedRunDay.objects.filter(day__gte=start, day__lt=end)
        .values("agent_id", "day", "runs", "automated", "handoffs", "ai_cost")
    )
    since, until = utc_start(start), utc_start(end)
    return _activity(Run.objects.filter(started_at__gte=since, started_at__lt=until),
                     Invocation.objects.filter(started_at__gte=since, started_at__lt=until)) + archived


def run_activity_before(before: datetime) -> list[dict]:
    """``run_activity`` of the stored runs and invocations that started before ``before`` (what
    retention drops: each table by its own start)."""
    return _activity(Run.objects.filter(started_at__lt=before), Invocation.objects.filter(started_at__lt=before))


def _activity(runs, invocations) -> list[dict]:
    """Task figures of ``runs`` (root agent, start day) and own cost of ``invocations`` (their agent,
    start day), one dict per (agent, day): two grouped queries."""
    ticketed = Exists(Ticket.objects.filter(run_id=OuterRef("pk")))
    merged: dict[tuple[int, date], dict] = {}

    def row(agent_id: int, day: date) -> dict:
        return merged.setdefault((agent_id, day), {"agent_id": agent_id, "day": day, "runs": 0, "automated": 0,
                                                   "handoffs": 0, "ai_cost": ZERO})

    for r in (
        runs.annotate(day=TruncDate("started_at", tzinfo=UTC)).values("agent_id", "day")
        .annotate(
            runs=Count("id"),
            automated=Count("id", filter=Q(status=RunStatus.OK, has_escalation=False) & ~ticketed),
            handoffs=Count("id", filter=Q(has_escalation=True) | ticketed),
        )
        .order_by()
    ):
        row(r["agent_id"], r["day"]).update(runs=r["runs"], automated=r["automated"], handoffs=r["handoffs"])
    for agent_id, day, cost in (
        invocations.annotate(day=TruncDate("started_at", tzinfo=UTC)).values("agent_id", "day")
        .annotate(cost=Sum("cost")).order_by().values_list("agent_id", "day", "cost")
    ):
        row(agent_id, day)["ai_cost"] = cost or ZERO
    return list(merged.values())


def ticket_activity(start: date, end: date) -> list[dict]:
    """Per agent and UTC resolution day: tickets resolved and their handling seconds (to the ms)."""
    return list(
        Ticket.objects.filter(
            resolved_at__gte=utc_start(start), resolved_at__lt=utc_start(end), status__in=FINISHED_TICKET_STATUSES
        )
        .annotate(day=TruncDate("resolved_at", tzinfo=UTC))
        .values("agent_id", "day")
        .annotate(
            resolved=Count("id"),
            seconds=Sum(Cast("handle_seconds", DecimalField(max_digits=20, decimal_places=3))),
        )
        .order_by()
    )


def daily_activity(start: date, end: date) -> list[AgentDay]:
    """Runs and tickets merged per (agent, day) over [start, end): two grouped queries."""
    merged: dict[tuple[int, date], dict] = defaultdict(dict)
    for r in run_activity(start, end):  # a day can have archived figures and late stored runs: add them
        fields = merged[(r["agent_id"], r["day"])]
        for name in ("runs", "automated", "handoffs"):
            fields[name] = fields.get(name, 0) + r[name]
        fields["ai_cost"] = fields.get("ai_cost", ZERO) + (r["ai_cost"] or ZERO)
    for t in ticket_activity(start, end):
        merged[(t["agent_id"], t["day"])].update(resolved_tickets=t["resolved"], human_seconds=t["seconds"] or ZERO)
    return [AgentDay(agent_id=a, day=d, **fields) for (a, d), fields in merged.items()]


# --- the report page ------------------------------------------------------------------------------


@dataclass
class TrendPoint:
    period: Period
    net_benefit: Decimal
    cost_per_resolution_agent: Decimal | None
    cost_per_resolution_person: Decimal | None


@dataclass
class ReportBundle:
    report: Report
    previous: Report
    year_earlier: Report
    trend: list[TrendPoint]
    assumptions: list[AssumptionRow]
    agents: dict[int, AgentInfo]


def report_bundle(period: Period, grouping: str, user=None) -> ReportBundle:
    """Everything the report page shows: rows, comparisons, a 12-month trend and the assumptions used.

    Reads activity once for the union of all the periods (two grouped queries), the ledger once and
    the assumption rows used once. Raises MissingExchangeRate (see calculations). For a ``user``
    limited to departments every figure, totals included, is computed from their agents only.
    """
    prev, earlier, months = previous_period(period), year_earlier(period), trailing_months(period)
    start = min(period.start, prev.start, earlier.start, months[0].start)
    end = max(period.end, months[-1].end)
    ledger = load_ledger(user)
    agents, departments = agent_directory(user)
    activity = [day for day in daily_activity(start, end) if day.agent_id in agents]

    def compute(p: Period, g: str) -> Report:
        return compute_report(p, g, activity, agents, departments, ledger)

    report = compute(period, grouping)
    trend = []
    for month in months:
        total = compute(month, "company").total
        trend.append(TrendPoint(month, total.net_benefit.base, total.cost_per_resolution_agent,
                                total.cost_per_resolution_person))
    used = (
        AssumptionRow.objects.filter(id__in=report.assumption_ids)
        .select_related("agent", "department", "changed_by", "previous")
        .order_by("kind", "agent__name", "department__name", "currency", "effective_from", "id")
    )
    return ReportBundle(report, compute(prev, grouping), compute(earlier, grouping), trend, list(used), agents)


# --- the ledger page ------------------------------------------------------------------------------


@dataclass
class Series:
    kind: str
    kind_label: str
    scope: str
    current: AssumptionRow | None
    history: list[AssumptionRow]


def ledger_series(today: date, user=None) -> list[Series]:
    """Every assumption series with the row in force today and its full history (newest first)."""
    rows = _scoped_rows(AssumptionRow.objects.all(), user).select_related("agent", "department", "changed_by", "previous").order_by(
        "kind", "agent__name", "department__name", "currency", "-effective_from", "-id"
    )
    grouped: dict[tuple, list[AssumptionRow]] = {}
    for row in rows:
        grouped.setdefault(row.series_key, []).append(row)
    series = []
    for history in grouped.values():
        in_force = [r for r in history if r.effective_from <= today]
        current = max(in_force, key=lambda r: (r.effective_from, r.id)) if in_force else None
        first = history[0]
        series.append(Series(first.kind, first.get_kind_display(), first.scope_label, current, history))
    order = list(AssumptionKind.values)
    series.sort(key=lambda s: (order.index(s.kind), s.scope.lower()))
    return series


# --- spend watch ----------------------------------------------------------------------------------


@dataclass
class SpendLine:
    budget: Budget
    month_to_date: Decimal
    forecast: Decimal
    budget_usd: Decimal | None  # None: no exchange rate for the budget's currency

    @property
    def over_budget(self) -> bool:
        return self.budget_usd is not None and self.forecast > self.budget_usd

    @property
    def used_percent(self) -> Decimal | None:
        return self.forecast * 100 / self.budget_usd if self.budget_usd else None


def spend_watch(month: date, today: date, user=None) -> list[SpendLine]:
    """Budgets of ``month`` with month-to-date cost and a straight-line forecast to month end.

    Month to date runs from the 1st through ``today`` (today counts as a day, so early in the day
    the forecast leans low). Model cost is forecast by its daily average so far; other costs accrue
    per day as in the report and the forecast takes the whole month's amount. A past month's
    forecast is its actual cost; a future month's is its other costs.
    """
    budgets = list(
        _scoped_rows(Budget.objects.filter(month=month), user).select_related("agent", "department").order_by(
            "department__name", "agent__name"
        )
    )
    if not budgets:
        return []
    month_end = add_months(month, 1)
    cutoff = min(max(today + timedelta(days=1), month), month_end)
    elapsed_days = (cutoff - month).days
    agents, _ = agent_directory()
    ledger = load_ledger()
    model_cost: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for agent_id, total in (  # each agent's own spend (docs/roi.md)
        Invocation.objects.filter(started_at__gte=utc_start(month), started_at__lt=utc_start(cutoff))
        .values("agent_id").annotate(total=Sum("cost")).order_by().values_list("agent_id", "total")
    ):
        model_cost[agent_id] += total or ZERO
    for agent_id, total in (  # days past telemetry retention
        ArchivedRunDay.objects.filter(day__gte=month, day__lt=cutoff)
        .values("agent_id").annotate(total=Sum("ai_cost")).order_by().values_list("agent_id", "total")
    ):
        model_cost[agent_id] += total or ZERO
    elapsed, whole = Period(month, cutoff, "", Decimal(1)), Period(month, month_end, "", Decimal(1))
    lines = []
    for budget in budgets:
        if budget.agent_id:
            agent_ids, scopes = [budget.agent_id], [(budget.agent_id, None)]
        else:
            agent_ids = [a.id for a in agents.values() if a.department_id == budget.department_id]
            scopes = [(None, budget.department_id)] + [(a, None) for a in agent_ids]
        mtd_model = sum((model_cost.get(a) or ZERO for a in agent_ids), ZERO)
        mtd_other = sum((prorated_monthly_cost(ledger, elapsed, a, d).base for a, d in scopes), ZERO)
        month_other = sum((prorated_monthly_cost(ledger, whole, a, d).base for a, d in scopes), ZERO)
        days = Decimal(days_in_month(month))
        forecast_model = mtd_model * days / elapsed_days if elapsed_days else ZERO
        lines.append(SpendLine(budget, mtd_model + mtd_other, forecast_model + month_other,
                               _budget_in_usd(budget, ledger)))
    return lines


def _budget_in_usd(budget: Budget, ledger: Ledger) -> Decimal | None:
    if budget.currency == REPORT_CURRENCY:
        return budget.amount
    rate = ledger.in_force(AssumptionKind.FX_RATE, budget.month, currency=budget.currency)
    return budget.amount * rate.base if rate else None


# --- drill-down -----------------------------------------------------------------------------------


def tickets_behind(agent_ids: list[int], start: date, end: date, limit: int = 500) -> list[Ticket]:
    """The finished tickets whose handling time the report counted for these agents and days."""
    return list(
        Ticket.objects.filter(
            agent_id__in=agent_ids, resolved_at__gte=utc_start(start), resolved_at__lt=utc_start(end),
            status__in=FINISHED_TICKET_STATUSES,
        )
        .select_related("agent", "resolved_by", "root_cause")
        .order_by("-resolved_at", "-id")[:limit]
    )


def runs_behind(agent_ids: list[int], start: date, end: date, limit: int = 500) -> list[Run]:
    """The runs the report counted for these agents and UTC days, newest first: the tasks they are
    the root agent of (``task`` true; each annotated with ``ticketed`` and ``automated`` exactly as
    the report's run figures define them) and the runs they spent in as sub-agents. ``own_cost`` is
    what the report's model cost counted of each run: the own cost of these agents' invocations that
    started in the period (two queries)."""
    since, until = utc_start(start), utc_start(end)
    own = dict(  # the newest ``limit`` runs they spent in (no more can be listed)
        Invocation.objects.filter(agent_id__in=agent_ids, started_at__gte=since, started_at__lt=until)
        .values("run_id").annotate(total=Sum("cost"), last=Max("started_at")).order_by("-last")
        .values_list("run_id", "total")[:limit]
    )
    ticketed = Exists(Ticket.objects.filter(run_id=OuterRef("pk")))
    rooted = Q(agent_id__in=agent_ids, started_at__gte=since, started_at__lt=until)
    # An invocation starts within its run, so its run started at most a trace window before it.
    spent = Q(pk__in=list(own), started_at__gte=since - timedelta(hours=settings.TELEMETRY_TRACE_WINDOW_HOURS),
              started_at__lt=until)
    runs = list(
        Run.objects.filter(rooted | spent)
        .annotate(ticketed=ticketed)
        .select_related("agent")
        .order_by("-started_at", "-id")[:limit]
    )
    chosen = set(agent_ids)
    for run in runs:
        run.task = run.agent_id in chosen and since <= run.started_at < until
        run.automated = run.task and run.status == RunStatus.OK and not run.has_escalation and not run.ticketed
        run.own_cost = own.get(run.pk) or ZERO
    return runs


def closes_within(period: Period) -> list[PeriodClose]:
    """Closed months inside ``period``, with their restatements and the assumption rows behind them
    (2 queries)."""
    return list(
        PeriodClose.objects.filter(month__gte=period.start, month__lt=period.end)
        .select_related("closed_by")
        .prefetch_related("restatements__assumption", "restatements__recorded_by")
        .order_by("month")
    )
