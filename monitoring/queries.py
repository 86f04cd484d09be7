"""Read-only selectors for the monitoring pages.

Dashboard aggregates (overview tiles, agent charts, alert evaluation) read rollup cells only; the
run explorer and the trace view read runs and steps through indexed, paginated queries.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from agentops.models import Agent, PromptVersion

from . import sketch
from .alert_models import AlertEvent
from .models import Escalation, Run, Step
from .rollup_models import RollupCell, Tier
from .rollups import SETTLED_AFTER, minute_cutoff, settled_generation, truncate

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Time ranges

RANGE_CHOICES: dict[str, tuple[str, timedelta]] = {
    "15m": ("last 15 min", timedelta(minutes=15)),
    "1h": ("last hour", timedelta(hours=1)),
    "24h": ("last 24 h", timedelta(hours=24)),
    "7d": ("last 7 days", timedelta(days=7)),
    "30d": ("last 30 days", timedelta(days=30)),
}
DEFAULT_RANGE = "24h"
MAX_CUSTOM_SPAN = timedelta(days=400)


class InvalidRange(ValueError):
    """A time range the user typed that we cannot use; the message is shown to them as is."""


@dataclass(frozen=True)
class TimeRange:
    key: str  # one of RANGE_CHOICES or "custom"
    start: datetime
    end: datetime

    @property
    def span(self) -> timedelta:
        return self.end - self.start

    @property
    def label(self) -> str:
        if self.key in RANGE_CHOICES:
            return RANGE_CHOICES[self.key][0]
        return f"{timezone.localtime(self.start):%Y-%m-%d %H:%M} to {timezone.localtime(self.end):%Y-%m-%d %H:%M}"

    def previous(self) -> TimeRange:
        return TimeRange(self.key, self.start - self.span, self.start)


def _parse_local(value: str, name: str) -> datetime:
    moment = parse_datetime(value.strip()) if value else None
    if moment is None:
        raise InvalidRange(f"The {name} time “{value}” is not a date and time like 2026-03-01T09:30.")
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    return moment


def parse_range(params, now: datetime | None = None) -> TimeRange:
    """The range named by ``range`` (or ``from``/``to`` for custom) in a QueryDict-like mapping."""
    now = now or timezone.now()
    key = params.get("range") or DEFAULT_RANGE
    if key in RANGE_CHOICES:
        return TimeRange(key, now - RANGE_CHOICES[key][1], now)
    if key != "custom":
        raise InvalidRange(f"Unknown time range “{key}”: choose one of {', '.join(RANGE_CHOICES)} or custom.")
    start = _parse_local(params.get("from", ""), "from")
    end = _parse_local(params.get("to", ""), "to") if params.get("to") else now
    if start >= end:
        raise InvalidRange("The custom range must start before it ends.")
    if end - start > MAX_CUSTOM_SPAN:
        raise InvalidRange("The custom range may cover at most 400 days.")
    if start > now:
        raise InvalidRange("The custom range starts in the future: there is no data there yet.")
    return TimeRange("custom", start, end)


def aggregate_tier(time_range: TimeRange, now: datetime | None = None) -> str:
    """The tier whose cells sum up a range cheaply: few cells per agent, finest that is still kept."""
    now = now or timezone.now()
    if time_range.span <= timedelta(hours=2) and time_range.start >= minute_cutoff(now):
        return Tier.MINUTE
    if time_range.span <= timedelta(days=2):
        return Tier.HOUR
    return Tier.DAY


def series_tier(time_range: TimeRange, now: datetime | None = None) -> str:
    """The tier for charts: at most a few hundred points per series."""
    now = now or timezone.now()
    if time_range.span <= timedelta(hours=6) and time_range.start >= minute_cutoff(now):
        return Tier.MINUTE
    if time_range.span <= timedelta(days=8):
        return Tier.HOUR
    return Tier.DAY


# ---------------------------------------------------------------------------------------------
# Metrics (definitions in docs/metrics.md)


@dataclass
class Summary:
    runs: int = 0
    errors: int = 0
    escalations: int = 0
    quality_sum: Decimal = Decimal(0)
    quality_count: int = 0
    cost: Decimal = Decimal(0)
    input_tokens: int = 0
    output_tokens: int = 0
    latency: dict[str, int] = field(default_factory=dict)

    def add(self, other: Summary) -> None:
        self.runs += other.runs
        self.errors += other.errors
        self.escalations += other.escalations
        self.quality_sum += other.quality_sum
        self.quality_count += other.quality_count
        self.cost += other.cost
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        if other.latency:
            # A copy, never in place: self.latency may be shared (a cell's JSON, a cached part).
            merged = dict(self.latency)
            sketch.add_into(merged, other.latency)
            self.latency = merged
        self.__dict__.pop("percentiles", None)  # the cached quantiles no longer hold

    def _pct(self, part: int) -> float | None:
        return 100.0 * part / self.runs if self.runs else None

    @property
    def success_rate(self) -> float | None:
        return self._pct(self.runs - self.errors)

    @property
    def error_rate(self) -> float | None:
        return self._pct(self.errors)

    @property
    def escalation_rate(self) -> float | None:
        return self._pct(self.escalations)

    @property
    def quality(self) -> float | None:
        return float(self.quality_sum) / self.quality_count if self.quality_count else None

    @property
    def cost_per_run(self) -> Decimal | None:
        return (self.cost / self.runs).quantize(Decimal("0.000001")) if self.runs else None

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @cached_property
    def percentiles(self) -> tuple[float | None, float | None, float | None]:
        """p50, p95, p99 in ms; cached because tiles read them many times (see ``add``)."""
        p50, p95, p99 = sketch.quantiles(self.latency, (0.5, 0.95, 0.99))
        return p50, p95, p99

    @property
    def p50(self) -> float | None:
        return self.percentiles[0]

    @property
    def p95(self) -> float | None:
        return self.percentiles[1]

    @property
    def p99(self) -> float | None:
        return self.percentiles[2]


_METRICS = {
    "runs": lambda s: s.runs,
    "success_rate": lambda s: s.success_rate,
    "error_rate": lambda s: s.error_rate,
    "escalation_rate": lambda s: s.escalation_rate,
    "quality": lambda s: s.quality,
    "cost_per_run": lambda s: float(s.cost_per_run) if s.runs else None,
    "p50_latency_ms": lambda s: s.p50,
    "p95_latency_ms": lambda s: s.p95,
    "p99_latency_ms": lambda s: s.p99,
}


def metric_value(summary: Summary, metric: str) -> float | None:
    """The value of one named metric (the alert metrics and tile metrics share these names)."""
    return _METRICS[metric](summary)


# The cells of one tier in a range, each tagged with its period. Their latency buckets are merged in
# Python (``_read_parts``): parsing each cell's JSON once and adding counts into one dict per agent and
# period costs about half of what jsonb_each_text + GROUP BY costs in PostgreSQL (measured: 30 days x
# 50 agents, 1 550 day cells of ~150 buckets: ~130 ms against 170-300 ms), and it keeps PostgreSQL's
# parallel workers off a 2-core machine that is serving other requests.
_CELLS_SQL = """
SELECT agent_id, bucket >= %(split)s, runs, errors, escalations, quality_sum, quality_count, cost, input_tokens,
       output_tokens, latency::text
FROM monitoring_rollupcell
WHERE tier = %(tier)s AND bucket >= %(start)s AND bucket < %(end)s AND {who}
"""

# (agent id or None, is current period) -> (runs, errors, escalations, quality_sum, quality_count, cost,
# input_tokens, output_tokens, latency buckets): plain values, so they cache and pickle cheaply.
_Parts = dict[tuple[int | None, bool], tuple]


def _who(agent_ids: list[int] | None) -> str:
    # A fixed fragment; the ids themselves are a bound parameter.
    return "agent_id IS NULL" if agent_ids is None else "agent_id = ANY(%(agents)s)"


def _read_parts(tier: str, start: datetime, end: datetime, split: datetime, agent_ids: list[int] | None) -> _Parts:
    """Totals and merged latency buckets per (agent, period) of the cells in ``[start, end)``: one statement."""
    if start >= end:
        return {}
    params = {"tier": tier, "start": start, "end": end, "split": split, "agents": agent_ids or []}
    with connection.cursor() as cursor:
        cursor.execute(_CELLS_SQL.replace("{who}", _who(agent_ids)), params)
        rows = cursor.fetchall()
    sums: dict[tuple[int | None, bool], list] = {}
    loads = json.loads
    for agent_id, is_current, runs, errors, esc, q_sum, q_count, cost, inp, out, latency in rows:
        acc = sums.get((agent_id, is_current))
        if acc is None:
            acc = sums[(agent_id, is_current)] = [0, 0, 0, Decimal(0), 0, Decimal(0), 0, 0, {}]
        acc[0] += runs
        acc[1] += errors
        acc[2] += esc
        acc[3] += q_sum
        acc[4] += q_count
        acc[5] += cost
        acc[6] += inp
        acc[7] += out
        buckets = acc[8]
        get = buckets.get
        for key, n in loads(latency).items():  # counts we wrote ourselves: ints, no coercion needed
            buckets[key] = get(key, 0) + n
    return {key: tuple(values) for key, values in sums.items()}


# How long a settled entry may live (settings.MONITORING_SETTLED_CACHE_SECONDS; 0 turns the cache off).
SETTLED_CACHE_SECONDS = 600

_database_identity: dict[str, int] = {}


def _database_oid() -> int:
    """The database's OID: settled entries of one database are never read for another (e.g. test runs)."""
    name = connection.settings_dict["NAME"]
    if name not in _database_identity:
        with connection.cursor() as cursor:
            cursor.execute("SELECT oid FROM pg_database WHERE datname = current_database()")
            _database_identity[name] = int(cursor.fetchone()[0])
    return _database_identity[name]


def _settled_parts(tier: str, start: datetime, end: datetime, split: datetime,
                   agent_ids: list[int] | None) -> _Parts:
    """``_read_parts`` of settled cells, cached under the settled generation (see monitoring.rollups).

    The entry is keyed by everything the result depends on (tier, cell range, period split, agents)
    and the generation token, which late data, rebuilds and pruning replace; the TTL only bounds
    memory and the (theoretical) case of a writer that died between its commit and its bump.
    """
    timeout = getattr(settings, "MONITORING_SETTLED_CACHE_SECONDS", SETTLED_CACHE_SECONDS)
    if start >= end or not timeout:
        return _read_parts(tier, start, end, split, agent_ids)
    who = "fleet" if agent_ids is None else hashlib.sha1(
        ",".join(map(str, sorted(set(agent_ids)))).encode(), usedforsecurity=False).hexdigest()
    try:
        key = (f"monitoring:settled:{_database_oid()}:{settled_generation()}:{tier}:{start.isoformat()}:"
               f"{end.isoformat()}:{split.isoformat()}:{who}")
        parts = cache.get(key)
    except Exception:  # the cache is an accelerator: without Redis the page reads every cell
        logger.warning("settled summary cache unavailable", exc_info=True)
        return _read_parts(tier, start, end, split, agent_ids)
    if parts is None:
        parts = _read_parts(tier, start, end, split, agent_ids)
        try:
            cache.set(key, parts, timeout)
        except Exception:
            logger.warning("settled summary cache unavailable", exc_info=True)
    return parts


def settled_boundary(tier: str, now: datetime) -> datetime:
    """Cells of ``tier`` starting before this have ended at least ``SETTLED_AFTER`` ago."""
    return truncate(now - SETTLED_AFTER, tier)


def summaries(
    time_range: TimeRange, agent_ids: list[int] | None, *, with_previous: bool = True, now: datetime | None = None
) -> tuple[dict[int | None, Summary], dict[int | None, Summary]]:
    """Summaries per agent (or of the fleet when ``agent_ids`` is None) for the range and the one before.

    Reads the cells of the tier picked by ``aggregate_tier``, totals and merged latency buckets grouped
    by agent and period in one statement. For the hour and day tiers the cells are split at
    ``settled_boundary``: the settled ones (all of the previous period, most of the current one) come
    from the cache while their generation holds, and only the recent cells are read on every refresh,
    so a 3 s poll merges a few hundred small cells instead of thousands.
    """
    now = now or timezone.now()
    tier = aggregate_tier(time_range, now)
    start = truncate(time_range.previous().start if with_previous else time_range.start, tier)
    split = truncate(time_range.start, tier)
    end = time_range.end
    boundary = start if tier == Tier.MINUTE else min(max(settled_boundary(tier, now), start), end)
    current: dict[int | None, Summary] = {}
    previous: dict[int | None, Summary] = {}
    for parts in (_settled_parts(tier, start, boundary, split, agent_ids),
                  _read_parts(tier, boundary, end, split, agent_ids)):
        for (agent_id, is_current), values in parts.items():
            target = current if is_current else previous
            # The parts are fresh objects (just read or unpickled): the first one is used as it is.
            if agent_id in target:
                target[agent_id].add(Summary(*values))
            else:
                target[agent_id] = Summary(*values)
    return current, previous


# ---------------------------------------------------------------------------------------------
# SLO status and burn rate

SLO_MET, SLO_AT_RISK, SLO_BREACHED, SLO_NONE = "met", "at_risk", "breached", "none"
AT_RISK_MARGIN = 0.9  # within 10 % of a limit counts as at risk


def error_budget(agent: Agent) -> float | None:
    """The fraction of runs allowed to fail under the agent's success-rate SLO."""
    if agent.slo_min_success_rate is None:
        return None
    return max(0.0, 1 - float(agent.slo_min_success_rate) / 100)


def burn_rate(agent: Agent, summary: Summary) -> float | None:
    """How many times faster than allowed the error budget is being spent (1.0 = exactly on budget)."""
    budget = error_budget(agent)
    if budget is None or not summary.runs:
        return None
    observed = summary.errors / summary.runs
    if budget == 0:
        return float("inf") if observed else 0.0
    return observed / budget


def _check_upper(value: float | None, limit: float | None) -> str | None:
    if value is None or limit is None:
        return None
    if value > limit:
        return SLO_BREACHED
    return SLO_AT_RISK if value >= limit * AT_RISK_MARGIN else SLO_MET


def slo_status(agent: Agent, summary: Summary) -> str:
    """met / at_risk / breached over the summary's runs; ``none`` without targets or runs."""
    if not summary.runs:
        return SLO_NONE
    budget = error_budget(agent)
    checks = [
        _check_upper(summary.p95, agent.slo_p95_latency_ms),
        _check_upper(summary.errors / summary.runs, budget),
        _check_upper(float(summary.cost_per_run), float(agent.slo_max_cost_per_run)
                     if agent.slo_max_cost_per_run is not None else None),
    ]
    if agent.slo_min_quality is not None and summary.quality is not None:
        # Quality must stay above its floor: mirror it into an "upper" check on the shortfall.
        floor = float(agent.slo_min_quality)
        checks.append(SLO_BREACHED if summary.quality < floor else
                      SLO_AT_RISK if summary.quality < floor + (1 - floor) * (1 - AT_RISK_MARGIN) else SLO_MET)
    found = [c for c in checks if c]
    if not found:
        return SLO_NONE
    for status in (SLO_BREACHED, SLO_AT_RISK):
        if status in found:
            return status
    return SLO_MET


# ---------------------------------------------------------------------------------------------
# Overview


@dataclass
class Tile:
    agent: Agent
    current: Summary
    previous: Summary
    status: str
    burn_rate: float | None

    def change(self, metric: str) -> float | None:
        """Absolute change of a metric against the previous period (None when either side is empty)."""
        now, before = metric_value(self.current, metric), metric_value(self.previous, metric)
        if now is None or before is None:
            return None
        return now - before


SORTS = {
    "name": ("name", lambda t: t.agent.name.lower(), False),
    "runs": ("volume", lambda t: t.current.runs, True),
    "success": ("success rate", lambda t: t.current.success_rate if t.current.runs else 101.0, False),
    "p95": ("p95 latency", lambda t: t.current.p95 or 0.0, True),
    "cost": ("cost per run", lambda t: t.current.cost_per_run or Decimal(0), True),
    "status": ("SLO status", lambda t: [SLO_BREACHED, SLO_AT_RISK, SLO_MET, SLO_NONE].index(t.status), False),
}


def overview_agents(department_id: int | None = None, stage: str | None = None) -> QuerySet[Agent]:
    agents = Agent.objects.select_related("department")
    # Retired agents only show up when asked for by stage.
    agents = agents.filter(lifecycle_stage=stage) if stage else agents.exclude(lifecycle_stage="retired")
    if department_id:
        agents = agents.filter(department_id=department_id)
    return agents


def overview_tiles(agents: Iterable[Agent], time_range: TimeRange, sort: str = "status") -> tuple[list[Tile], Tile | None]:
    """Tiles for ``agents`` (sorted) and a fleet tile summing them; reads rollups only."""
    agents = list(agents)
    current, previous = summaries(time_range, [a.id for a in agents])
    tiles = []
    for agent in agents:
        cur, prev = current.get(agent.id, Summary()), previous.get(agent.id, Summary())
        tiles.append(Tile(agent, cur, prev, slo_status(agent, cur), burn_rate(agent, cur)))
    _, key, reverse = SORTS.get(sort, SORTS["status"])
    tiles.sort(key=key, reverse=reverse)
    if not tiles:
        return [], None
    fleet_cur, fleet_prev = Summary(), Summary()
    for tile in tiles:
        fleet_cur.add(tile.current)
        fleet_prev.add(tile.previous)
    fleet = Tile(Agent(name="All agents"), fleet_cur, fleet_prev, SLO_NONE, None)
    return tiles, fleet


def has_telemetry() -> bool:
    return Run.objects.exists()


def open_alerts(limit: int = 20) -> list[AlertEvent]:
    return list(AlertEvent.objects.filter(resolved_at__isnull=True).select_related("rule", "agent")[:limit])


# ---------------------------------------------------------------------------------------------
# Agent dashboard


@dataclass
class Point:
    bucket: datetime
    summary: Summary


def agent_series(agent_id: int | None, time_range: TimeRange, now: datetime | None = None) -> tuple[str, list[Point]]:
    """One point per cell of the chart tier over the range (the agent's cells, or the fleet's)."""
    tier = series_tier(time_range, now)
    cells = RollupCell.objects.filter(
        tier=tier, bucket__gte=truncate(time_range.start, tier), bucket__lt=time_range.end
    ).order_by("bucket")
    cells = cells.filter(agent_id=agent_id) if agent_id is not None else cells.filter(agent__isnull=True)
    points = [
        Point(c.bucket, Summary(c.runs, c.errors, c.escalations, c.quality_sum, c.quality_count, c.cost,
                                c.input_tokens, c.output_tokens, c.latency))
        for c in cells.only("bucket", "runs", "errors", "escalations", "quality_sum", "quality_count", "cost",
                            "input_tokens", "output_tokens", "latency")
    ]
    return tier, points


def prompt_changes(agent: Agent, time_range: TimeRange) -> list[PromptVersion]:
    return list(agent.prompt_versions.filter(created_at__gte=time_range.start, created_at__lt=time_range.end)
                .order_by("created_at"))


def recent_failures(agent: Agent, time_range: TimeRange, limit: int = 10) -> list[Run]:
    return list(Run.objects.filter(agent=agent, status="error", started_at__gte=time_range.start,
                                   started_at__lt=time_range.end).order_by("-started_at", "-id")[:limit])


def recent_escalations(agent: Agent, time_range: TimeRange, limit: int = 10) -> list[Escalation]:
    return list(Escalation.objects.filter(agent=agent, occurred_at__gte=time_range.start,
                                          occurred_at__lt=time_range.end)
                .select_related("run").order_by("-occurred_at")[:limit])


def agent_alert_events(agent: Agent, limit: int = 10) -> list[AlertEvent]:
    return list(AlertEvent.objects.filter(agent=agent).select_related("rule")[:limit])


# ---------------------------------------------------------------------------------------------
# Run explorer (keyset pagination on (started_at, id), newest first)

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


def runs_page(runs: QuerySet[Run], cursor: str | None) -> tuple[list[Run], str | None]:
    """One page after ``cursor`` and the cursor of the next page (None on the last page)."""
    if cursor:
        moment, run_id = decode_cursor(cursor)
        runs = runs.filter(Q(started_at__lt=moment) | Q(started_at=moment, id__lt=run_id))
    page = list(runs[: PAGE_SIZE + 1])
    if len(page) > PAGE_SIZE:
        return page[:PAGE_SIZE], encode_cursor(page[PAGE_SIZE - 1])
    return page, None


# ---------------------------------------------------------------------------------------------
# Trace view


@dataclass
class WaterfallRow:
    step: Step
    depth: int
    offset_pct: float
    width_pct: float


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

