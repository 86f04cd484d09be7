"""The portfolio for finance and leadership: figures per department and the stage each agent was in.

An agent's runs, cost, value and net benefit over the period are split across the stages it was in
during the period, by the UTC days it spent in each (from its stage history): a day counts for the
stage the agent was in at the end of that day, so the day of a promotion counts for the new stage.
Each stretch of days is computed by roi's calculation over that stretch (activity of those days,
other costs prorated over them), so the stage rows of an agent add up to its ROI report figures for
the whole period. Department-level costs (no agent) form their own "no stage" row.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from agentops.models import Agent
from agentops.scoping import scope_agents, scope_rows

from . import stages
from .models import StageEvent


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


@dataclass(frozen=True)
class Stretch:
    """Consecutive UTC days [first, last] an agent spent in one stage."""

    stage: str
    first: date
    last: date


def stretches(current_stage: str, events: list[StageEvent], start: date, end: date) -> list[Stretch]:
    """The stages an agent was in on each day of [start, end] (inclusive), as consecutive stretches.

    ``events`` are the agent's stage events in order. Before its first event the agent was in that
    event's ``from_stage``; with no events, in ``current_stage``. A day counts for the stage at its end.
    """
    def stage_on(day: date) -> str:
        stage = events[0].from_stage if events else current_stage
        for event in events:
            if event.occurred_at.astimezone(UTC).date() > day:
                break
            stage = event.to_stage
        return stage

    out: list[Stretch] = []
    day = start
    while day <= end:
        stage = stage_on(day)
        if out and out[-1].stage == stage and out[-1].last == day - timedelta(days=1):
            out[-1] = Stretch(stage, out[-1].first, day)
        else:
            out.append(Stretch(stage, day, day))
        day += timedelta(days=1)
    return out


def stage_stays(events: list[StageEvent], created: dict[int, datetime], now: datetime) -> dict[str, list[float]]:
    """Completed stays per stage in days: from entering a stage to the next event of that agent.

    An agent's first stay starts at its registration in the event's ``from_stage``. Ongoing stays are
    left out (they have not ended), so the median is of finished stays only.
    """
    stays: dict[str, list[float]] = defaultdict(list)
    for agent_id, agent_events in _by_agent(events).items():
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


def _by_agent(events: list[StageEvent]) -> dict[int, list[StageEvent]]:
    per_agent: dict[int, list[StageEvent]] = defaultdict(list)
    for event in events:
        per_agent[event.agent_id].append(event)
    for agent_events in per_agent.values():
        agent_events.sort(key=lambda e: (e.occurred_at, e.id))
    return per_agent


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def portfolio(days: int = 30, now: datetime | None = None, user=None) -> Portfolio:
    """Per department and stage over the last ``days`` UTC days: agents that were in the stage, their
    runs, cost, value and net benefit in it (roi's calculation over each stretch), plus the median days
    agents spend per stage and from Pilot to Scale (from the stage history). For a ``user`` limited to
    departments, from their agents and departments only (agentops.scoping)."""
    from roi.calculations import MissingExchangeRate, compute_report, custom_period
    from roi.queries import agent_directory, daily_activity, load_ledger

    now = now or timezone.now()
    today = now.astimezone(UTC).date()
    start = today - timedelta(days=days - 1)
    agents = list(scope_agents(Agent.objects.filter(discovered=False), user).select_related("department"))
    events = list(scope_rows(StageEvent.objects.all(), user).only("id", "agent_id", "occurred_at", "from_stage", "to_stage"))
    per_agent = _by_agent(events)
    agent_stretches = {a.id: stretches(a.lifecycle_stage, per_agent.get(a.id, []), start, today) for a in agents}
    rows: dict[tuple[str, str], PortfolioRow] = {}

    def row(dept: str, stage: str) -> PortfolioRow:
        if (dept, stage) not in rows:
            rows[(dept, stage)] = PortfolioRow(dept, stage)
        return rows[(dept, stage)]

    def dept_of(agent: Agent) -> str:
        return agent.department.name if agent.department else "No department"

    for agent in agents:
        for stage in dict.fromkeys(s.stage for s in agent_stretches[agent.id]):
            row(dept_of(agent), stage).agents += 1

    # One roi calculation per distinct stretch of days, over the agents with that stretch.
    by_days: dict[tuple[date, date], dict[int, str]] = defaultdict(dict)
    for agent in agents:
        for s in agent_stretches[agent.id]:
            by_days[(s.first, s.last)][agent.id] = s.stage
    problem = ""
    directory, departments = agent_directory(user)
    by_id = {a.id: a for a in agents}
    activity = [d for d in daily_activity(start, today + timedelta(days=1)) if d.agent_id in directory]
    ledger = load_ledger(user)
    try:
        whole = compute_report(custom_period(start, today), "agent", activity, directory, departments, ledger)
        for roi_row in whole.rows:  # its agent rows are split by stage below
            kind, ident = roi_row.key
            if kind != "agent":
                _add(row(departments.get(ident, "No department"), ""), roi_row)
        for (first, last), stage_of in by_days.items():
            subset = {a: info for a, info in directory.items() if a in stage_of}
            days_activity = [d for d in activity if d.agent_id in stage_of and first <= d.day <= last]
            report = compute_report(custom_period(first, last), "agent", days_activity, subset, departments, ledger)
            for roi_row in report.rows:
                kind, ident = roi_row.key
                if kind == "agent" and ident in stage_of:
                    _add(row(dept_of(by_id[ident]), stage_of[ident]), roi_row)
    except MissingExchangeRate as exc:
        problem = str(exc)
        for r in rows.values():
            r.runs, r.cost, r.value, r.net_benefit = 0, Decimal(0), Decimal(0), Decimal(0)

    order = {s: i for i, s in enumerate(stages.COLUMNS)}
    ordered = sorted(rows.values(), key=lambda r: (r.department.lower(), order.get(r.stage, 99)))
    total = PortfolioRow("All departments", "", agents=len(agents))
    for r in ordered:
        total.runs += r.runs
        total.cost += r.cost
        total.value += r.value
        total.net_benefit += r.net_benefit
    created = dict(scope_agents(Agent.objects.all(), user).values_list("id", "created_at"))
    stays = stage_stays(events, created, now)
    return Portfolio(start, today, ordered, total, [(stages.label(s), _median(stays.get(s, []))) for s in stages.LADDER],
                     _median(pilot_to_scale(events, created)), problem)


def _add(target: PortfolioRow, roi_row) -> None:
    target.runs += roi_row.runs
    target.cost += roi_row.total_cost
    target.value += roi_row.value.base
    target.net_benefit += roi_row.net_benefit.base
