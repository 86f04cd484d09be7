"""Read-only selectors for the lifecycle pages: board, agent readiness and history, portfolio.

Every selector reads a fixed number of queries whatever the number of agents (asserted in tests).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from agentops.models import Agent, Department

from . import stages
from .evidence import Measured, measure
from .models import LifecycleSettings, PendingPromotion, StageCriteria, StageEvent, WatchFlag


def _latest_events(agent_ids: list[int]) -> dict[int, StageEvent]:
    events = (StageEvent.objects.filter(agent_id__in=agent_ids).order_by("agent_id", "-occurred_at", "-id")
              .distinct("agent_id").only("agent_id", "occurred_at", "to_stage"))
    return {e.agent_id: e for e in events}


def _open_flags(agent_ids: list[int]) -> dict[int, WatchFlag]:
    return {f.agent_id: f for f in WatchFlag.objects.filter(agent_id__in=agent_ids, resolved_at__isnull=True)}


def _pending(agent_ids: list[int]) -> dict[int, PendingPromotion]:
    return {p.agent_id: p for p in PendingPromotion.objects.filter(
        agent_id__in=agent_ids, status=PendingPromotion.Status.PENDING).select_related("requested_by")}


@dataclass
class Card:
    agent: Agent
    target: str | None  # the stage a promotion leads to (None at the top)
    measured: Measured | None
    entered_at: datetime
    flag: WatchFlag | None
    pending: PendingPromotion | None
    now: datetime

    @property
    def days_in_stage(self) -> int:
        return max(0, (self.now - self.entered_at).days)

    @property
    def failing_count(self) -> int:
        return len(self.measured.failing) if self.measured else 0

    @property
    def ready(self) -> bool:
        return self.measured is not None and self.measured.ready

    @property
    def readiness(self) -> str:
        """"flagged", "pending", "ready", "failing"; at the top "holding" or "slipping"; "retired"."""
        if self.flag:
            return "flagged"
        if self.pending:
            return "pending"
        if self.measured is None:
            return "retired"
        if self.target is None:
            return "holding" if self.ready else "slipping"
        return "ready" if self.ready else "failing"

    @property
    def target_label(self) -> str:
        return stages.label(self.target) if self.target else ""


def _targets(agents: list[Agent]) -> dict[int, str]:
    """Stage to measure per agent: the next rung; at the top, its own stage (does it still hold?).
    Retired agents are not measured on the board."""
    out = {}
    for agent in agents:
        if agent.lifecycle_stage != stages.RETIRED:
            out[agent.id] = stages.next_stage(agent.lifecycle_stage) or agent.lifecycle_stage
    return out


def cards(agents: list[Agent], now: datetime | None = None) -> list[Card]:
    now = now or timezone.now()
    ids = [a.id for a in agents]
    targets = _targets(agents)
    measured = measure(agents, targets, now)
    events, flags, pending = _latest_events(ids), _open_flags(ids), _pending(ids)
    out = []
    for agent in agents:
        event = events.get(agent.id)
        entered = event.occurred_at if event and event.to_stage == agent.lifecycle_stage else agent.created_at
        target = stages.next_stage(agent.lifecycle_stage) if agent.lifecycle_stage != stages.RETIRED else None
        out.append(Card(agent, target, measured.get(agent.id), entered, flags.get(agent.id),
                        pending.get(agent.id), now))
    return out


@dataclass
class Column:
    stage: str
    label: str
    cards: list[Card] = field(default_factory=list)


def board(department: Department | None = None, now: datetime | None = None) -> list[Column]:
    """Registered agents as cards in one column per stage (retired last)."""
    agents = Agent.objects.filter(discovered=False).select_related("department", "owner").order_by("name")
    if department is not None:
        agents = agents.filter(department=department)
    columns = {s: Column(s, stages.label(s)) for s in stages.COLUMNS}
    for card in cards(list(agents), now):
        columns[card.agent.lifecycle_stage].cards.append(card)
    return list(columns.values())


def agent_card(agent: Agent, now: datetime | None = None) -> Card:
    agent = Agent.objects.select_related("department", "owner").get(pk=agent.pk)
    return cards([agent], now)[0]


def history(agent: Agent, limit: int | None = None) -> list[StageEvent]:
    events = StageEvent.objects.filter(agent=agent).select_related("actor", "approved_by")
    return list(events[:limit] if limit else events)


def pending_list() -> list[PendingPromotion]:
    return list(PendingPromotion.objects.filter(status=PendingPromotion.Status.PENDING)
                .select_related("agent", "requested_by"))


def flagged_count() -> int:
    return WatchFlag.objects.filter(resolved_at__isnull=True).count()


def criteria_rows() -> tuple[dict[str, StageCriteria | None], list[StageCriteria]]:
    """The stage rows (None where the built-in defaults apply) and every override."""
    rows = list(StageCriteria.objects.select_related("department", "agent").order_by("stage", "id"))
    own = {s: None for s in stages.GATED}
    overrides = []
    for row in rows:
        if row.agent_id is None and row.department_id is None:
            own[row.stage] = row
        else:
            overrides.append(row)
    order = {s: i for i, s in enumerate(stages.GATED)}
    overrides.sort(key=lambda r: (order[r.stage], r.department_id is None, r.scope_label.lower()))
    return own, overrides


def settings_row() -> LifecycleSettings:
    return LifecycleSettings.load()


# ---------------------------------------------------------------------------------------------
# Portfolio


@dataclass
class PortfolioRow:
    department: str
    stage: str
    agents: int = 0
    runs: int = 0
    cost: Decimal = Decimal(0)
    value: Decimal = Decimal(0)
    net_benefit: Decimal = Decimal(0)

    @property
    def stage_label(self) -> str:
        return stages.label(self.stage) if self.stage else "Department costs (no stage)"


@dataclass
class Portfolio:
    start: date
    end: date  # inclusive
    rows: list[PortfolioRow]
    total: PortfolioRow
    median_days: list[tuple[str, float | None]]  # (stage label, median days of finished stays)
    pilot_to_scale_days: float | None
    problem: str = ""


def stage_stays(events: list[StageEvent], created: dict[int, datetime], now: datetime) -> dict[str, list[float]]:
    """Completed stays per stage in days: from entering a stage to the next event of that agent.

    An agent's first stay starts at its registration in the event's ``from_stage``. Ongoing stays are
    left out (they have not ended), so the median is of finished stays only.
    """
    per_agent: dict[int, list[StageEvent]] = defaultdict(list)
    for event in events:
        per_agent[event.agent_id].append(event)
    stays: dict[str, list[float]] = defaultdict(list)
    for agent_id, agent_events in per_agent.items():
        agent_events.sort(key=lambda e: (e.occurred_at, e.id))
        entered, stage = created.get(agent_id), agent_events[0].from_stage
        for event in agent_events:
            if entered is not None and event.from_stage == stage:
                stays[stage].append((event.occurred_at - entered).total_seconds() / 86400)
            entered, stage = event.occurred_at, event.to_stage
    return stays


def pilot_to_scale(events: list[StageEvent], created: dict[int, datetime]) -> list[float]:
    """Days from registration (in Pilot) to first reaching Scale, per agent that got there."""
    first_scale: dict[int, datetime] = {}
    starts_in_pilot: dict[int, bool] = {}
    for event in sorted(events, key=lambda e: (e.occurred_at, e.id)):
        starts_in_pilot.setdefault(event.agent_id, event.from_stage == stages.PILOT)
        if event.to_stage == stages.SCALE and event.agent_id not in first_scale:
            first_scale[event.agent_id] = event.occurred_at
    return [(moment - created[a]).total_seconds() / 86400 for a, moment in first_scale.items()
            if starts_in_pilot.get(a) and a in created]


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def portfolio(days: int = 30, now: datetime | None = None) -> Portfolio:
    """Per department and current stage over the last ``days`` UTC days: agents, runs, cost, value and
    net benefit (roi's calculation, so the figures equal the ROI report for the same days), plus the
    median days agents spend per stage and from Pilot to Scale (from the stage history)."""
    from roi.calculations import MissingExchangeRate, compute_report, custom_period
    from roi.queries import agent_directory, daily_activity, load_ledger

    now = now or timezone.now()
    today = now.astimezone(UTC).date()
    start = today - timedelta(days=days - 1)
    agents = list(Agent.objects.filter(discovered=False).select_related("department"))
    by_id = {a.id: a for a in agents}
    rows: dict[tuple[str, str], PortfolioRow] = {}

    def row(dept: str, stage: str) -> PortfolioRow:
        if (dept, stage) not in rows:
            rows[(dept, stage)] = PortfolioRow(dept, stage)
        return rows[(dept, stage)]

    for agent in agents:
        row(agent.department.name if agent.department else "No department", agent.lifecycle_stage).agents += 1
    problem = ""
    directory, departments = agent_directory()
    try:
        report = compute_report(custom_period(start, today), "agent", daily_activity(start, today + timedelta(days=1)),
                                directory, departments, load_ledger())
    except MissingExchangeRate as exc:
        report, problem = None, str(exc)
    for roi_row in report.rows if report else []:
        kind, ident = roi_row.key
        if kind == "agent" and ident not in by_id:
            continue  # a discovered agent: not part of the portfolio yet
        if kind == "agent":
            agent = by_id[ident]
            target = row(agent.department.name if agent.department else "No department", agent.lifecycle_stage)
        else:
            target = row(departments.get(ident, "No department"), "")
        target.runs += roi_row.runs
        target.cost += roi_row.total_cost
        target.value += roi_row.value.base
        target.net_benefit += roi_row.net_benefit.base
    order = {s: i for i, s in enumerate(stages.COLUMNS)}
    ordered = sorted(rows.values(), key=lambda r: (r.department.lower(), order.get(r.stage, 99)))
    total = PortfolioRow("All departments", "")
    for r in ordered:
        total.agents += r.agents
        total.runs += r.runs
        total.cost += r.cost
        total.value += r.value
        total.net_benefit += r.net_benefit
    events = list(StageEvent.objects.only("agent_id", "occurred_at", "from_stage", "to_stage"))
    created = dict(Agent.objects.values_list("id", "created_at"))
    stays = stage_stays(events, created, now)
    return Portfolio(start, today, ordered, total, [(stages.label(s), _median(stays.get(s, []))) for s in stages.LADDER],
                     _median(pilot_to_scale(events, created)), problem)
