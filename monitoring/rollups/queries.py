"""Reading rollup cells: summaries per agent (and the fleet) over a range, and chart series.

Settled cells (older than ``SETTLED_AFTER``) are cached per (tier, range, agents); the live tail is
read each time."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from psycopg2 import sql

from agentops.models import Agent
from monitoring.rollups import sketch
from monitoring.rollups.cells import SETTLED_AFTER, minute_cutoff, settled_generation, truncate
from monitoring.rollups.models import RollupCell, Tier
from monitoring.sqlbuild import compose
from monitoring.timerange import TimeRange

logger = logging.getLogger(__name__)


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


# The cells of one tier in a range, each tagged with its period ({who}: the fleet's cells or some
# agents'). Their latency buckets are merged in Python (``_read_parts``): parsing each cell's JSON once
# and adding counts into one dict per agent and period costs less than jsonb_each_text + GROUP BY in
# PostgreSQL (docs/performance.md), and it keeps PostgreSQL's parallel workers off a small machine that
# is serving other requests.
_CELLS_SQL = """
SELECT agent_id, bucket >= %(split)s, runs, errors, escalations, quality_sum, quality_count, cost, input_tokens,
       output_tokens, latency::text
FROM monitoring_rollupcell
WHERE tier = %(tier)s AND bucket >= %(start)s AND bucket < %(end)s AND {who}
"""
_FLEET_CELLS = sql.SQL("agent_id IS NULL")
_AGENT_CELLS = sql.SQL("agent_id = ANY(%(agents)s)")  # the ids themselves are a bound parameter


# (agent id or None, is current period) -> (runs, errors, escalations, quality_sum, quality_count, cost,
# input_tokens, output_tokens, latency buckets): plain values, so they cache and pickle cheaply.
_Parts = dict[tuple[int | None, bool], tuple]


def _read_parts(tier: str, start: datetime, end: datetime, split: datetime, agent_ids: list[int] | None) -> _Parts:
    """Totals and merged latency buckets per (agent, period) of the cells in ``[start, end)``: one statement."""
    if start >= end:
        return {}
    params = {"tier": tier, "start": start, "end": end, "split": split, "agents": agent_ids or []}
    with connection.cursor() as cursor:
        statement = compose(_CELLS_SQL, who=_FLEET_CELLS if agent_ids is None else _AGENT_CELLS)
        cursor.execute(statement.as_string(cursor.cursor), params)
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
    try:
        key = _settled_key(tier, start, end, split, agent_ids)
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


def _settled_key(tier: str, start: datetime, end: datetime, split: datetime, agent_ids: list[int] | None) -> str:
    who = "fleet" if agent_ids is None else hashlib.sha1(
        ",".join(map(str, sorted(set(agent_ids)))).encode(), usedforsecurity=False).hexdigest()
    return (f"monitoring:settled:{_database_oid()}:{settled_generation()}:{tier}:{start.isoformat()}:"
            f"{end.isoformat()}:{split.isoformat()}:{who}")


def warm_summaries(time_range: TimeRange, agent_ids: list[int] | None, *, now: datetime | None = None) -> bool:
    """Fill the settled cache entry ``summaries`` reads for this range and these agents, when it is
    missing (an hour or day boundary moved the settled range, late data replaced the generation, or
    the entry expired); an entry already there is left alone, unread. Returns whether it was filled.
    Run by beat (``monitoring.tasks.warm_dashboards``) so that the first poll after a boundary does
    not pay for parsing every settled cell."""
    tier, start, split, boundary = _settled_window(time_range, now or timezone.now())
    timeout = getattr(settings, "MONITORING_SETTLED_CACHE_SECONDS", SETTLED_CACHE_SECONDS)
    if start >= boundary or not timeout:  # the minute tier (nothing settled) or the cache turned off
        return False
    key = _settled_key(tier, start, boundary, split, agent_ids)
    if cache.has_key(key):
        return False
    cache.set(key, _read_parts(tier, start, boundary, split, agent_ids), timeout)
    return True


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
    tier, start, split, boundary = _settled_window(time_range, now, with_previous)
    end = time_range.end
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


def _settled_window(time_range: TimeRange, now: datetime, with_previous: bool = True,
                    ) -> tuple[str, datetime, datetime, datetime]:
    """(tier, first cell, start of the current period's cells, end of the settled cells) of a range:
    cells from the first one to the settled end come from the cache, the rest are read."""
    tier = aggregate_tier(time_range, now)
    start = truncate(time_range.previous().start if with_previous else time_range.start, tier)
    split = truncate(time_range.start, tier)
    boundary = start if tier == Tier.MINUTE else min(max(settled_boundary(tier, now), start), time_range.end)
    return tier, start, split, boundary


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
