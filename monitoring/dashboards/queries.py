"""Read-only selectors for the monitoring pages: overview tiles, SLO status, run explorer, trace view."""

from __future__ import annotations

import base64
import binascii
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from agentops.models import Agent, PromptEvent
from agentops.scoping import scope_rows
from monitoring.alerts.models import AlertEvent
from monitoring.ingest.models import Escalation, Run, Step
from monitoring.rollups.queries import Summary, burn_rate, error_budget, metric_value, summaries
from monitoring.timerange import TimeRange

logger = logging.getLogger(__name__)


SLO_MET, SLO_AT_RISK, SLO_BREACHED, SLO_NONE = "met", "at_risk", "breached", "none"


AT_RISK_MARGIN = 0.9  # within 10 % of a limit counts as at risk


def _check_upper(value: float | None, limit: float | None) -> str | None:
    if value is None or limit is None:
        return None
    if value > limit:
        return SLO_BREACHED
    return SLO_AT_RISK if value >= limit * AT_RISK_MARGIN else SLO_MET


def slo_checks(agent: Agent, summary: Summary) -> list[tuple[str, str]]:
    """(target, met / at_risk / breached) for each SLO target the agent has, over the summary's runs."""
    if not summary.runs:
        return []
    budget = error_budget(agent)
    checks = [
        ("p95 latency", _check_upper(summary.p95, agent.slo_p95_latency_ms)),
        ("success rate", _check_upper(summary.errors / summary.runs, budget)),
        ("cost per run", _check_upper(float(summary.cost_per_run), float(agent.slo_max_cost_per_run)
                                      if agent.slo_max_cost_per_run is not None else None)),
    ]
    if agent.slo_min_quality is not None and summary.quality is not None:
        # Quality must stay above its floor: mirror it into an "upper" check on the shortfall.
        floor = float(agent.slo_min_quality)
        checks.append(("quality", SLO_BREACHED if summary.quality < floor else
                       SLO_AT_RISK if summary.quality < floor + (1 - floor) * (1 - AT_RISK_MARGIN) else SLO_MET))
    return [(name, status) for name, status in checks if status]


def slo_status(agent: Agent, summary: Summary) -> str:
    """met / at_risk / breached over the summary's runs; ``none`` without targets or runs."""
    found = [status for _name, status in slo_checks(agent, summary)]
    if not found:
        return SLO_NONE
    for status in (SLO_BREACHED, SLO_AT_RISK):
        if status in found:
            return status
    return SLO_MET


def failing_targets(agent: Agent, summary: Summary) -> list[str]:
    """The targets behind the status: the breached ones, else the ones at risk."""
    checks = slo_checks(agent, summary)
    for status in (SLO_BREACHED, SLO_AT_RISK):
        names = [name for name, s in checks if s == status]
        if names:
            return names
    return []


@dataclass
class Tile:
    agent: Agent
    current: Summary
    previous: Summary
    status: str
    burn_rate: float | None
    failing: list[str] = field(default_factory=list)  # SLO targets breached (or at risk)
    open_alerts: int = 0

    def change(self, metric: str) -> float | None:
        """Absolute change of a metric against the previous period (None when either side is empty)."""
        now, before = metric_value(self.current, metric), metric_value(self.previous, metric)
        if now is None or before is None:
            return None
        return now - before


STATUS_ORDER = [SLO_BREACHED, SLO_AT_RISK, SLO_MET, SLO_NONE]


def severity(tile: Tile) -> tuple:
    """Worst first: most open alerts, then SLO breached / at risk, then the fastest error-budget burn."""
    burn = tile.burn_rate if tile.burn_rate is not None else -1.0
    return (-tile.open_alerts, STATUS_ORDER.index(tile.status), -burn, tile.agent.name.lower())


SORTS = {
    "severity": ("severity (alerts, SLO, error-budget burn)", severity, False),
    "name": ("name", lambda t: t.agent.name.lower(), False),
    "runs": ("volume", lambda t: t.current.runs, True),
    "success": ("success rate", lambda t: t.current.success_rate if t.current.runs else 101.0, False),
    "p95": ("p95 latency", lambda t: t.current.p95 or 0.0, True),
    "cost": ("cost per run", lambda t: t.current.cost_per_run or Decimal(0), True),
    "status": ("SLO status", lambda t: STATUS_ORDER.index(t.status), False),
}


def overview_agents(department_id: int | None = None, stage: str | None = None,
                    show_inactive: bool = False) -> QuerySet[Agent]:
    """The overview's agents: retired, archived and test agents only with ``show_inactive`` (or, for
    retired ones, when their stage is asked for)."""
    agents = Agent.objects.select_related("department")
    if not show_inactive:
        agents = agents.filter(archived_at__isnull=True, is_test=False)
    if stage:
        agents = agents.filter(lifecycle_stage=stage)
    elif not show_inactive:
        agents = agents.exclude(lifecycle_stage="retired")
    if department_id:
        agents = agents.filter(department_id=department_id)
    return agents


def overview_tiles(agents: Iterable[Agent], time_range: TimeRange, sort: str = "severity",
                   alert_counts: dict[int, int] | None = None, *, scoped: bool = False) -> tuple[list[Tile], Tile | None]:
    """Tiles for ``agents`` (sorted; by severity unless asked otherwise) and the fleet tile (every
    agent's tasks, from the fleet cells: traces, not invocations); reads rollups only. ``alert_counts``: open alerts per agent id.
    ``scoped`` (a user limited to departments): the fleet cells hold other departments' figures, so the
    summary tile is the sum of ``agents``' own cells instead (invocations)."""
    agents = list(agents)
    alert_counts = alert_counts or {}
    current, previous = summaries(time_range, [a.id for a in agents])
    tiles = []
    for agent in agents:
        cur, prev = current.get(agent.id, Summary()), previous.get(agent.id, Summary())
        tiles.append(Tile(agent, cur, prev, slo_status(agent, cur), burn_rate(agent, cur),
                          failing_targets(agent, cur), alert_counts.get(agent.id, 0)))
    _, key, reverse = SORTS.get(sort, SORTS["severity"])
    tiles.sort(key=key, reverse=reverse)
    if not tiles:
        return [], None
    # The fleet's own cells count traces (customer tasks); agent cells count invocations, so a task
    # that an orchestrator hands to sub-agents would be counted once per agent if the tiles were summed.
    if scoped:
        mine, mine_before = Summary(), Summary()
        for agent in agents:
            mine.add(current.get(agent.id, Summary()))
            mine_before.add(previous.get(agent.id, Summary()))
        return tiles, Tile(Agent(name="Your agents"), mine, mine_before, SLO_NONE, None)
    fleet_current, fleet_previous = summaries(time_range, None)
    fleet = Tile(Agent(name="All agents"), fleet_current.get(None, Summary()), fleet_previous.get(None, Summary()),
                 SLO_NONE, None)
    return tiles, fleet


def has_telemetry() -> bool:
    return Run.objects.exists()


def open_alerts(department_id: int | None = None, limit: int = 20, user=None) -> list[AlertEvent]:
    """Open alerts not snoozed, for one department's agents (and fleet-wide alerts) when ``department_id``
    is given; only the agents' of ``user``'s departments when they are limited (no fleet-wide ones)."""
    now = timezone.now()
    events = scope_rows(AlertEvent.objects.filter(resolved_at__isnull=True).exclude(snoozed_until__gt=now), user)
    if department_id:
        events = events.filter(Q(agent__department_id=department_id) | Q(agent__isnull=True))
    return list(events.select_related("rule", "agent").order_by("-opened_at")[:limit])


def open_alert_counts() -> dict[int, int]:
    """Open alerts per agent id, not counting snoozed ones (1 query)."""
    rows = (AlertEvent.objects.filter(resolved_at__isnull=True, agent__isnull=False)
            .exclude(snoozed_until__gt=timezone.now()).values_list("agent_id").annotate(n=Count("id")))
    return dict(rows)


def prompt_changes(agent: Agent, time_range: TimeRange) -> list[PromptEvent]:
    """When the agent's served prompt changed in the range: versions made active, rollouts started,
    changed and ended (the prompt history, not when a version was written)."""
    return list(PromptEvent.objects.filter(agent=agent, at__gte=time_range.start, at__lt=time_range.end)
                .order_by("at", "id"))


def recent_escalations(agent: Agent, time_range: TimeRange, limit: int = 10) -> list[Escalation]:
    return list(Escalation.objects.filter(agent=agent, occurred_at__gte=time_range.start,
                                          occurred_at__lt=time_range.end)
                .select_related("run").order_by("-occurred_at")[:limit])


def agent_alert_events(agent: Agent, limit: int = 10) -> list[AlertEvent]:
    return list(AlertEvent.objects.filter(agent=agent).select_related("rule")[:limit])


PAGE_SIZE = 50


def encode_cursor(run: Run) -> str:
    raw = f"{run.started_at.isoformat()}|{run.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Raises ValueError on anything we did not produce."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, run_id = raw.split("|")
        parsed = parse_datetime(moment)
        if parsed is None:
            raise ValueError
        return parsed, int(run_id)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError("That page link is not valid any more; start again from the first page.") from exc


def filter_runs(filters: dict, time_range: TimeRange) -> QuerySet[Run]:
    """Runs matching the explorer's cleaned filters (see monitoring.views.RunFilterForm)."""
    runs = Run.objects.filter(started_at__gte=time_range.start, started_at__lt=time_range.end)
    exact = {"agent": "agent", "status": "status", "error_type": "error_type", "model": "model",
             "prompt_version": "prompt_version", "session": "session_id"}
    for name, column in exact.items():
        if filters.get(name):
            runs = runs.filter(**{column: filters[name]})
    if filters.get("min_latency_ms") is not None:
        runs = runs.filter(duration_ms__gte=filters["min_latency_ms"])
    if filters.get("min_cost") is not None:
        runs = runs.filter(cost__gte=filters["min_cost"])
    if filters.get("has_escalation") == "yes":
        runs = runs.filter(has_escalation=True)
    elif filters.get("has_escalation") == "no":
        runs = runs.filter(has_escalation=False)
    return runs.select_related("agent").order_by("-started_at", "-id")


COUNT_CAP = 10_000


def count_runs_capped(runs: QuerySet[Run], cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many runs match, reading at most ``cap + 1`` of them (the range's index rows): (count,
    whether there are more than ``cap``). A count over a month of a busy fleet would otherwise read
    every run of the range; past the cap the page says "10,000+"."""
    found = runs.order_by().values("id")[: cap + 1].count()
    return min(found, cap), found > cap


def runs_page(runs: QuerySet[Run], cursor: str | None) -> tuple[list[Run], str | None]:
    """One page after ``cursor`` and the cursor of the next page (None on the last page)."""
    if cursor:
        moment, run_id = decode_cursor(cursor)
        runs = runs.filter(Q(started_at__lt=moment) | Q(started_at=moment, id__lt=run_id))
    page = list(runs[: PAGE_SIZE + 1])
    if len(page) > PAGE_SIZE:
        return page[:PAGE_SIZE], encode_cursor(page[PAGE_SIZE - 1])
    return page, None


@dataclass
class WaterfallRow:
    step: Step
    depth: int
    offset_pct: float
    width_pct: float

    @property
    def io(self) -> list[tuple[str, str]]:
        """Input and output, each shown (as a conversation when it is one) or said to be missing."""
        return [("Input", self.step.input), ("Output", self.step.output)]

    @property
    def extras(self) -> list[tuple[str, object, int]]:
        """The span's attributes and events, folded on the page with a copy button."""
        return [("Attributes", self.step.attributes or {}, len(self.step.attributes or {})),
                ("Events", self.step.events or [], len(self.step.events or []))]


def waterfall(run: Run) -> list[WaterfallRow]:
    """The run's steps in tree order (parent before children, siblings by start) with bar geometry."""
    steps = list(run.steps.select_related("agent").order_by("started_at", "id"))
    if not steps:
        return []
    t0 = min(s.started_at for s in steps)
    t1 = max(s.ended_at for s in steps)
    total_ms = max((t1 - t0).total_seconds() * 1000, 0.001)
    children: dict[str, list[Step]] = defaultdict(list)
    span_ids = {s.span_id for s in steps}
    roots = []
    for step in steps:
        has_parent = step.parent_span_id in span_ids and step.parent_span_id != step.span_id
        (children[step.parent_span_id] if has_parent else roots).append(step)
    rows: list[WaterfallRow] = []
    seen: set[int] = set()

    def visit(step: Step, depth: int) -> None:
        if step.id in seen:  # a malformed trace could name itself as its parent
            return
        seen.add(step.id)
        offset = (step.started_at - t0).total_seconds() * 1000
        rows.append(WaterfallRow(step, depth, 100 * offset / total_ms, max(100 * step.duration_ms / total_ms, 0.3)))
        for child in children.get(step.span_id, []):
            visit(child, depth + 1)

    for root in roots:
        visit(root, 0)
    return rows
