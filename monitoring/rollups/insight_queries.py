"""Reading the insight cells (``insight_models``): failure groups, prompt versions and agent-map edges
over a range. Every read is bounded by the range (hour or day cells in it), never by the raw tables.

A range is read in whole cells of the tier ``cell_tier`` picks, from the cell holding its start (as
the dashboards read theirs): hour cells up to two days, day cells beyond. Where latency sketches are
merged (versions, edges), the settled cells' merge is cached under the settled generation exactly as
the dashboards' summaries are (``rollups.queries``): ingest bumps it whenever it changes a settled
hour of the same runs, so only the recent cells are read on every request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from monitoring.rollups import sketch
from monitoring.rollups.cells import settled_generation, truncate
from monitoring.rollups.models import Tier
from monitoring.rollups.queries import SETTLED_CACHE_SECONDS, _database_oid, settled_boundary

logger = logging.getLogger(__name__)

HOUR_CELLS_UP_TO = timedelta(days=2)


def cell_tier(start: datetime, end: datetime) -> str:
    return Tier.HOUR if end - start <= HOUR_CELLS_UP_TO else Tier.DAY


def cell_start(start: datetime, end: datetime) -> datetime:
    """Where the cells of the range start: the start of the cell holding ``start``."""
    return truncate(start, cell_tier(start, end))


def _rows(statement: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall()


def _window(start: datetime, end: datetime) -> dict:
    return {"tier": cell_tier(start, end), "start": cell_start(start, end), "end": end}


@dataclass(frozen=True)
class GroupCount:
    fingerprint: str
    runs: int
    errors: int
    escalations: int


def group_counts(start: datetime, end: datetime, *, agent_id: int | None = None, agent_ids: list[int] | None = None,
                 fingerprints: list[str] | None = None, limit: int | None = None) -> list[GroupCount]:
    """Failure groups with runs in the range, most runs first (``agent_id``: the failing agent;
    ``agent_ids``: only failures of these agents)."""
    params = {**_window(start, end), "agent": agent_id, "fps": fingerprints, "limit": limit, "agents": agent_ids}
    rows = _rows(
        "SELECT fingerprint, sum(runs), sum(errors), sum(escalations) FROM monitoring_failurecell"
        " WHERE tier = %(tier)s AND bucket >= %(start)s AND bucket < %(end)s"
        " AND (%(agent)s::bigint IS NULL OR agent_id = %(agent)s)"
        " AND (%(fps)s::text[] IS NULL OR fingerprint = ANY(%(fps)s::text[]))"
        " AND (%(agents)s::bigint[] IS NULL OR agent_id = ANY(%(agents)s::bigint[]))"
        " GROUP BY fingerprint HAVING sum(runs) > 0 ORDER BY 2 DESC, 1 LIMIT %(limit)s", params)
    return [GroupCount(fp, int(n), int(e), int(x)) for fp, n, e, x in rows]


def group_breakdown(start: datetime, end: datetime, fingerprints: list[str], agent_id: int | None = None,
                    agent_ids: list[int] | None = None) -> list[tuple[str, int, int | None, str, str, int]]:
    """(fingerprint, failing agent, prompt id, prompt version, model, runs) of the groups in the range."""
    params = {**_window(start, end), "agent": agent_id, "fps": fingerprints, "agents": agent_ids}
    return [(fp, a, p, v, m, int(n)) for fp, a, p, v, m, n in _rows(
        "SELECT fingerprint, agent_id, prompt_id, prompt_version, model, sum(runs) FROM monitoring_failurecell"
        " WHERE tier = %(tier)s AND bucket >= %(start)s AND bucket < %(end)s AND fingerprint = ANY(%(fps)s)"
        " AND (%(agent)s::bigint IS NULL OR agent_id = %(agent)s)"
        " AND (%(agents)s::bigint[] IS NULL OR agent_id = ANY(%(agents)s::bigint[]))"
        " GROUP BY 1, 2, 3, 4, 5 HAVING sum(runs) > 0", params)]


def first_seen(fingerprints: list[str]) -> dict[str, datetime]:
    """When each group was first seen, to the hour (to the day past the hour cells' retention)."""
    rows = _rows(
        "SELECT fp, (SELECT min(bucket) FROM monitoring_failurecell WHERE fingerprint = fp AND tier = 'd' AND runs > 0),"
        " (SELECT min(bucket) FROM monitoring_failurecell WHERE fingerprint = fp AND tier = 'h' AND runs > 0)"
        " FROM unnest(%(fps)s::text[]) AS fp", {"fps": fingerprints})
    result = {}
    for fp, day, hour in rows:
        # The first day's hour cells may have been pruned: then the day is what is known.
        found = hour if hour is not None and day is not None and truncate(hour, Tier.DAY) == day else day
        if found is not None:
            result[fp] = found
    return result


def last_seen(fingerprints: list[str], start: datetime, end: datetime) -> dict[str, datetime]:
    """The hour of each group's latest run in the range (its day where no hour cells are kept)."""
    rows = _rows(
        "SELECT fp, (SELECT max(bucket) FROM monitoring_failurecell WHERE fingerprint = fp AND tier = 'h'"
        " AND bucket >= %(start)s AND bucket < %(end)s AND runs > 0),"
        " (SELECT max(bucket) FROM monitoring_failurecell WHERE fingerprint = fp AND tier = 'd'"
        " AND bucket >= %(day)s AND bucket < %(end)s AND runs > 0)"
        " FROM unnest(%(fps)s::text[]) AS fp",
        {"fps": fingerprints, "start": truncate(start, Tier.HOUR), "day": truncate(start, Tier.DAY), "end": end})
    return {fp: hour or day for fp, hour, day in rows if hour or day}


def group_daily(fingerprint: str, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """Runs of one group per UTC day of the range (day cells)."""
    return [(day, int(n)) for day, n in _rows(
        "SELECT bucket, sum(runs) FROM monitoring_failurecell WHERE fingerprint = %(fp)s AND tier = 'd'"
        " AND bucket >= %(start)s AND bucket < %(end)s GROUP BY 1 HAVING sum(runs) > 0 ORDER BY 1",
        {"fp": fingerprint, "start": truncate(start, Tier.DAY), "end": end})]


def group_agents(fingerprint: str) -> list[int]:
    """The agents a group's failures were ever attributed to."""
    return [a for (a,) in _rows("SELECT DISTINCT agent_id FROM monitoring_failurecell WHERE fingerprint = %(fp)s"
                                " AND tier = 'd' AND runs > 0", {"fp": fingerprint})]


def signatures(fingerprints: list[str]) -> dict[str, tuple]:
    """fingerprint -> (agent id, kind, step name, tool name, error type, message) as recorded at ingest."""
    return {row[0]: row[1:] for row in _rows(
        "SELECT fingerprint, agent_id, kind, step_name, tool_name, error_type, message"
        " FROM monitoring_failuresignaturerecord WHERE fingerprint = ANY(%(fps)s)", {"fps": fingerprints})}


@dataclass
class VersionTotals:
    agent_id: int
    prompt_id: int | None
    prompt_version: str
    runs: int = 0
    errors: int = 0
    escalations: int = 0
    quality_sum: Decimal = Decimal(0)
    quality_sumsq: Decimal = Decimal(0)
    quality_count: int = 0
    cost: Decimal = Decimal(0)
    first_seen: datetime | None = None
    latency: dict[str, int] = field(default_factory=dict)
    models: dict[str, tuple[int, datetime]] = field(default_factory=dict)  # model -> (runs, first seen)

    def quantile(self, q: float) -> float | None:
        return sketch.quantiles(self.latency, (q,))[0] if self.latency else None


def _settled_then_live(name: str, start: datetime, end: datetime, extra: str,
                       read: Callable[[str, datetime, datetime], dict]) -> tuple[dict, dict]:
    """``read(tier, a, b)`` over the range's settled cells (cached under the settled generation) and
    over its recent ones (read every time)."""
    tier, cells_from = cell_tier(start, end), cell_start(start, end)
    boundary = min(max(settled_boundary(tier, timezone.now()), cells_from), end)
    return _cached(name, tier, cells_from, boundary, extra, read), read(tier, boundary, end)


def _cached(name: str, tier: str, start: datetime, end: datetime, extra: str, read) -> dict:
    timeout = getattr(settings, "MONITORING_SETTLED_CACHE_SECONDS", SETTLED_CACHE_SECONDS)
    if start >= end or not timeout:
        return read(tier, start, end)
    try:
        key = (f"insights:settled:{_database_oid()}:{settled_generation()}:{name}:{tier}:{start.isoformat()}:"
               f"{end.isoformat()}:{extra}")
        found = cache.get(key)
    except Exception:  # the cache is an accelerator: without Redis every cell is read
        logger.warning("settled insight cache unavailable", exc_info=True)
        return read(tier, start, end)
    if found is None:
        found = read(tier, start, end)
        try:
            cache.set(key, found, timeout)
        except Exception:
            logger.warning("settled insight cache unavailable", exc_info=True)
    return found


def _version_parts(with_latency: bool, agent_ids: list[int]):
    def read(tier: str, start: datetime, end: datetime) -> dict:
        if start >= end:
            return {}
        rows = _rows(
            "SELECT agent_id, prompt_id, prompt_version, model, bucket, runs, errors, escalations, quality_sum,"
            " quality_sumsq, quality_count, cost, CASE WHEN %(latency)s THEN latency::text END"
            " FROM monitoring_versioncell WHERE tier = %(tier)s AND agent_id = ANY(%(agents)s)"
            " AND bucket >= %(start)s AND bucket < %(end)s AND runs > 0",
            {"tier": tier, "start": start, "end": end, "agents": agent_ids, "latency": with_latency})
        parts: dict[tuple, list] = {}
        for agent_id, prompt_id, version, model, bucket, *figures, latency in rows:
            acc = parts.get((agent_id, prompt_id, version, model))
            if acc is None:
                acc = parts[(agent_id, prompt_id, version, model)] = [0, 0, 0, Decimal(0), Decimal(0), 0, Decimal(0),
                                                                      bucket, {}]
            for i, value in enumerate(figures):
                acc[i] += value
            acc[7] = min(acc[7], bucket)
            if latency:
                sketch.add_into(acc[8], json.loads(latency))
        return {key: tuple(values) for key, values in parts.items()}
    return read


def version_totals(start: datetime, end: datetime, agent_ids: list[int], *, with_latency: bool = True,
                   ) -> list[VersionTotals]:
    """Invocations per (agent, prompt version) in the range, with their models; latency sketches merged."""
    extra = f"{int(with_latency)}:" + ",".join(map(str, sorted(set(agent_ids))))
    totals: dict[tuple, VersionTotals] = {}
    for part in _settled_then_live("versions", start, end, extra, _version_parts(with_latency, agent_ids)):
        for (agent_id, prompt_id, version, model), values in part.items():
            runs, errors, esc, q_sum, q_sq, q_n, cost, first, latency = values
            t = totals.get((agent_id, prompt_id, version))
            if t is None:
                t = totals[(agent_id, prompt_id, version)] = VersionTotals(agent_id, prompt_id, version)
            t.runs += runs
            t.errors += errors
            t.escalations += esc
            t.quality_sum += q_sum
            t.quality_sumsq += q_sq
            t.quality_count += q_n
            t.cost += cost
            t.first_seen = first if t.first_seen is None else min(t.first_seen, first)
            n, seen = t.models.get(model, (0, first))
            t.models[model] = (n + runs, min(seen, first))
            sketch.add_into(t.latency, latency)
    return list(totals.values())


@dataclass
class CallerTotals:
    """One agent's invocations in a range by one caller (``caller_id`` None: called directly)."""

    caller_id: int | None
    runs: int = 0
    errors: int = 0
    escalated: int = 0  # invocations that raised at least one escalation
    cost: Decimal = Decimal(0)
    input_tokens: int = 0
    output_tokens: int = 0
    latency: dict[str, int] = field(default_factory=dict)


def _caller_parts(agent_id: int):
    def read(tier: str, start: datetime, end: datetime) -> dict:
        if start >= end:
            return {}
        rows = _rows(
            "SELECT caller_agent_id, runs, errors, escalations, cost, input_tokens, output_tokens, latency::text"
            " FROM monitoring_versioncell WHERE tier = %(tier)s AND agent_id = %(agent)s"
            " AND bucket >= %(start)s AND bucket < %(end)s AND runs > 0",
            {"tier": tier, "start": start, "end": end, "agent": agent_id})
        parts: dict[int | None, list] = {}
        for caller_id, *figures, latency in rows:
            acc = parts.get(caller_id)
            if acc is None:
                acc = parts[caller_id] = [0, 0, 0, Decimal(0), 0, 0, {}]
            for i, value in enumerate(figures):
                acc[i] += value
            sketch.add_into(acc[6], json.loads(latency))
        return {key: tuple(values) for key, values in parts.items()}
    return read


def caller_totals(start: datetime, end: datetime, agent_id: int) -> list[CallerTotals]:
    """The agent's invocations per caller over the range's version cells (hour cells up to two days,
    day cells beyond, like the other insight figures); settled cells cached, recent ones read."""
    totals: dict[int | None, CallerTotals] = {}
    for part in _settled_then_live("callers", start, end, str(agent_id), _caller_parts(agent_id)):
        for caller_id, (runs, errors, escalated, cost, inp, out, latency) in part.items():
            t = totals.setdefault(caller_id, CallerTotals(caller_id))
            t.runs += runs
            t.errors += errors
            t.escalated += escalated
            t.cost += cost
            t.input_tokens += inp
            t.output_tokens += out
            sketch.add_into(t.latency, latency)
    return [t for t in totals.values() if t.runs]


@dataclass
class EdgeTotals:
    source_id: int
    target_kind: str
    target_name: str
    target_agent_id: int | None
    calls: int = 0
    errors: int = 0
    total_ms: float = 0.0
    cost: Decimal = Decimal(0)
    latency: dict[str, int] = field(default_factory=dict)


def _edge_parts(department_id: int | None):
    def read(tier: str, start: datetime, end: datetime) -> dict:
        if start >= end:
            return {}
        rows = _rows(
            "SELECT source_id, target_kind, target_name, target_agent_id, calls, errors, total_ms, cost, latency::text"
            " FROM monitoring_edgecell WHERE tier = %(tier)s AND bucket >= %(start)s AND bucket < %(end)s AND rows > 0"
            " AND (%(department)s::bigint IS NULL OR department_id = %(department)s)",
            {"tier": tier, "start": start, "end": end, "department": department_id})
        parts: dict[tuple, list] = {}
        loads = json.loads
        for source_id, kind, name, target_agent_id, calls, errors, total_ms, cost, latency in rows:
            acc = parts.get((source_id, kind, name, target_agent_id))
            if acc is None:
                acc = parts[(source_id, kind, name, target_agent_id)] = [0, 0, Decimal(0), Decimal(0), {}]
            acc[0] += calls
            acc[1] += errors
            acc[2] += total_ms
            acc[3] += cost
            buckets, get = acc[4], acc[4].get
            for key, n in loads(latency).items():  # counts we wrote ourselves: ints
                buckets[key] = get(key, 0) + n
        return {key: tuple(values) for key, values in parts.items()}
    return read


def edge_totals(start: datetime, end: datetime, department_id: int | None = None) -> list[EdgeTotals]:
    """Agent-map edges summed over the range (optionally of one department's source agents)."""
    totals: dict[tuple, EdgeTotals] = {}
    for part in _settled_then_live("edges", start, end, str(department_id), _edge_parts(department_id)):
        for key, (calls, errors, total_ms, cost, latency) in part.items():
            t = totals.get(key)
            if t is None:
                t = totals[key] = EdgeTotals(*key)
            t.calls += calls
            t.errors += errors
            t.total_ms += float(total_ms)
            t.cost += cost
            sketch.add_into(t.latency, latency)
    return list(totals.values())
