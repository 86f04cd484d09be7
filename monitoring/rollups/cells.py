"""Rollup maintenance (live monitoring). Called by the ingest pipeline.

Contract used by the ingest write path (monitoring.ingest.write):
    refresh_for_runs(run_ids) is called inside the batch's transaction after runs/steps/scores/
    escalations are written. It must be idempotent: calling it again for the same runs (a replayed
    batch, spans of one trace arriving in several batches) must leave the rollups equal to what a
    rebuild from raw data gives.

How: agent cells count the agent's invocations, fleet cells (agent NULL) count runs (traces). For
every (agent, minute) the batch's invocations touched, the agent's minute cell is *recomputed* from
the invocations in that minute, and for every minute its runs touched the fleet's from the runs,
except a minute touched only by runs this transaction created: those are counted in no cell yet, so
their figures are *added* to the stored cell (the same result, without re-reading the minute's other
rows; a replay finds the runs stored and recomputes). The hour and day cells above are recomputed
by merging the finer cells of the same agent (or the fleet's), or from the source rows when the finer
tier has been pruned. The statements are built in
monitoring/rollups/statements.py.

Concurrency: two workers recomputing the same cell from different snapshots could each miss the
other's uncommitted runs. Each refresh therefore takes a transaction-scoped advisory lock per
(agent, day) and (fleet, day) it touches, in sorted order (no deadlocks), *before* reading. Under
READ COMMITTED every later statement sees the rows of workers that committed while we waited, so
the last writer of a cell has seen everything. ``rebuild`` takes one exclusive lock that all
refreshes share, so it never interleaves with them.

Known limit: if a later batch moves a run to another minute or agent (its root span arrives late
with an earlier start), the old cell keeps the run until ``manage.py rebuild_rollups`` covers it.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone
from psycopg2 import sql

from monitoring.rollups import insight_cells, statements
from monitoring.rollups.models import ROLLUP_LOCK, TIER_SPAN, Tier
from monitoring.sqlbuild import compose
from monitoring.storage.services import retention_cutoff

# Minute cells cover the last two days, hour cells about 13 months; day cells are kept forever.
MINUTE_RETENTION = timedelta(days=2)
HOUR_RETENTION = timedelta(days=400)
# A coarser cell is merged from finer cells only when it starts this long after the finer tier's
# retention cutoff, so a concurrent prune can never remove cells it is being built from.
_SAFETY = {Tier.MINUTE: timedelta(hours=1), Tier.HOUR: timedelta(days=1)}
_RETENTION = {Tier.MINUTE: MINUTE_RETENTION, Tier.HOUR: HOUR_RETENTION}
_FINER = {Tier.HOUR: Tier.MINUTE, Tier.DAY: Tier.HOUR}

logger = logging.getLogger(__name__)

# Settled cells: an hour or day cell that ended at least SETTLED_AFTER ago changes only when late data
# lands, a rebuild runs or prune deletes it. Each of those replaces the "settled generation" token,
# so pages may cache what they merged from settled cells under that token (rollups.queries) and
# only re-read the recent ("live") cells on every refresh. A refresh bumps the token when it rewrites
# a cell that ended more than SETTLED_AFTER - _SETTLED_MARGIN ago: the margin covers a transaction
# that began while its cell was still live but commits after readers started caching it.
SETTLED_AFTER = timedelta(hours=3)
_SETTLED_MARGIN = timedelta(hours=1)
SETTLED_GENERATION_KEY = "monitoring:rollups:settled-generation"

# Key of the advisory lock shared by refreshes and held exclusively by rebuild.
_GLOBAL_LOCK = ROLLUP_LOCK

Key = tuple[int | None, datetime]  # (agent_id, or None for the fleet; bucket start, UTC)

def truncate(moment: datetime, tier: str) -> datetime:
    """Start of the tier's cell holding ``moment`` (UTC)."""
    moment = moment.astimezone(UTC)
    if tier == Tier.MINUTE:
        return moment.replace(second=0, microsecond=0)
    if tier == Tier.HOUR:
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def minute_cutoff(now: datetime) -> datetime:
    """Minute cells older than this are not kept (pages must not read the minute tier before it)."""
    return now - MINUTE_RETENTION


def _merge_from_finer(tier: str, bucket: datetime, now: datetime) -> bool:
    finer = _FINER[tier]
    return bucket >= now - _RETENTION[finer] + _SAFETY[finer]


def settled_generation() -> str:
    """The current settled-generation token (created when missing, e.g. after a cache flush)."""
    token = cache.get(SETTLED_GENERATION_KEY)
    if token is None:
        cache.add(SETTLED_GENERATION_KEY, uuid.uuid4().hex, timeout=None)
        token = cache.get(SETTLED_GENERATION_KEY)
    return token


def _set_new_generation() -> None:
    try:
        cache.set(SETTLED_GENERATION_KEY, uuid.uuid4().hex, timeout=None)
    except Exception:  # a cache outage must never fail ingest; cached entries expire on their own
        logger.warning("could not bump the settled rollup generation", exc_info=True)


def bump_settled_generation() -> None:
    """Invalidate everything cached from settled cells: now, and again once the transaction commits.

    The first bump stops readers from reusing entries computed before this write; the second
    replaces any entry a reader computed from the snapshot before our commit (under the first token).
    """
    _set_new_generation()
    transaction.on_commit(_set_new_generation)


def _touches_settled(hour_keys: Iterable[Key], now: datetime) -> bool:
    # Day cells end no earlier than their hours, so the hour cells decide.
    limit = now - SETTLED_AFTER + _SETTLED_MARGIN
    return any(hour + TIER_SPAN[Tier.HOUR] <= limit for _, hour in hour_keys)


@dataclass
class _Plan:
    minute: set[Key]
    hour: set[Key]
    day: set[Key]


def _plan(minute_pairs: Iterable[Key], now: datetime) -> _Plan:
    pairs = set(minute_pairs)
    return _Plan(
        minute={k for k in pairs if k[1] >= minute_cutoff(now)},
        hour={(a, truncate(m, Tier.HOUR)) for a, m in pairs},
        day={(a, truncate(m, Tier.DAY)) for a, m in pairs},
    )


def _lock_key(agent_id: int, day: datetime) -> int:
    # 63-bit digest: collisions only serialise two unrelated refreshes, never corrupt anything.
    digest = hashlib.blake2b(f"{agent_id}:{day.date().isoformat()}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def _lock_cells(day_keys: set[Key]) -> None:
    """Serialise refreshes of the same agent-days and fleet-days (see the module docstring)."""
    keys = {_lock_key(a or 0, d) for a, d in day_keys} | {_lock_key(0, d) for _, d in day_keys}
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [_GLOBAL_LOCK])
        # One statement per lock keeps the acquisition order exactly the sorted order.
        for key in sorted(keys):
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _execute(statement: sql.Composable, keys: list[tuple[int | None, datetime]], params: dict) -> None:
    if not keys:
        return
    params = {**params, "agents": [a for a, _ in keys], "buckets": [b for _, b in keys]}
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(cursor.cursor), params)


def _split(keys: Iterable[Key]) -> tuple[list[Key], list[Key]]:
    """Agent keys and fleet keys (agent None), each sorted."""
    keys = set(keys)
    return (sorted(k for k in keys if k[0] is not None),
            sorted((k for k in keys if k[0] is None), key=lambda k: k[1]))


def _cells_from_source(tier: str, keys: Iterable[Key]) -> None:
    """Agent cells from invocations, fleet cells from runs."""
    agent_keys, fleet_keys = _split(keys)
    params = {"tier": tier, "span": TIER_SPAN[tier]}
    _execute(statements.cells_from_invocations(), agent_keys, params)
    _execute(statements.fleet_cells_from_runs(), fleet_keys, params)


def _add_new_runs(keys: Iterable[Key], new_ids: list[int], window: tuple[datetime, datetime]) -> None:
    agent_keys, fleet_keys = _split(keys)
    params = {"tier": Tier.MINUTE, "span": TIER_SPAN[Tier.MINUTE], "new": new_ids, "lo": window[0], "hi": window[1]}
    _execute(statements.cells_added_from_new_invocations(), agent_keys, params)
    _execute(statements.fleet_cells_added_from_new_runs(), fleet_keys, params)


def _cells_from_finer(tier: str, keys: Iterable[Key]) -> None:
    agent_keys, fleet_keys = _split(keys)
    params = {"tier": tier, "src_tier": _FINER[tier], "span": TIER_SPAN[tier]}
    _execute(statements.cells_merged_from_finer(), agent_keys, params)
    _execute(statements.fleet_cells_merged_from_finer(), fleet_keys, params)


def _coarse_cells(tier: str, keys: set[Key], now: datetime) -> None:
    merged = {k for k in keys if _merge_from_finer(tier, k[1], now)}
    _cells_from_finer(tier, merged)
    _cells_from_source(tier, keys - merged)


def _apply(plan: _Plan, now: datetime, added: set[Key], new_ids: list[int], window: tuple[datetime, datetime]) -> None:
    _cells_from_source(Tier.MINUTE, plan.minute - added)
    _add_new_runs(plan.minute & added, new_ids, window)
    _coarse_cells(Tier.HOUR, plan.hour, now)
    _coarse_cells(Tier.DAY, plan.day, now)


# The minutes holding the runs (fleet) and their invocations (agents), and whether only new runs are there.
_TOUCHED_SQL = compose(
    """SELECT agent_id, date_trunc('minute', started_at), bool_and(run_id = ANY(%(new)s)) FROM ({invocations}) i
GROUP BY 1, 2
UNION ALL
SELECT NULL, date_trunc('minute', started_at), bool_and(id = ANY(%(new)s)) FROM ({runs}) r GROUP BY 2""",
    invocations=statements.by_run_id("monitoring_invocation", "run_id", "runs", ("agent_id", "started_at", "run_id")),
    runs=statements.by_run_id("monitoring_run", "id", "runs", ("id", "started_at")),
)
# No window given: every partition is looked in.
_ANY_TIME = (datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC))


def refresh_for_runs(
    run_ids: list[int], previous: Iterable[tuple[int, datetime]] = (), new_ids: Iterable[int] = (),
    previous_invocations: Iterable[tuple[int, datetime]] = (), window: tuple[datetime, datetime] | None = None,
) -> None:
    """Recompute every rollup cell holding one of ``run_ids`` (fleet cells) or one of their
    invocations (agent cells). Idempotent.

    ``previous`` lists (agent_id, started_at) of those runs *before* this write, where a run may have
    moved (a late root span starts it earlier): the fleet cells it left are recomputed too (to zero if
    it was alone there), or it would count twice. ``previous_invocations``: (agent_id, started_at) of
    the invocations this write replaced, for the agent cells they left (an invocation disappears when
    its parent span arrives, or moves to another agent).

    ``new_ids``: those of ``run_ids`` *created by the current transaction* (ingest's new traces),
    counted in no cell yet: a minute cell that only they (or their invocations) touch is incremented
    by them instead of recomputed from every row of the minute. Cells that also hold another run of
    the refresh, or a previous place, are recomputed as usual. A replayed batch finds its runs
    existing, so it recomputes.

    ``window``: where the runs lie (their earliest start, latest end), so only those days' partitions
    are read; without it every partition is looked in.

    Precondition: called inside the ingest transaction, after the runs and invocations are written
    (it opens an atomic block of its own otherwise, so it is also safe to call from tests and shells).
    """
    if not run_ids:
        return
    new_ids = sorted(set(new_ids).intersection(run_ids))
    window = window or _ANY_TIME
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_TOUCHED_SQL.as_string(cursor.cursor),
                           {"new": new_ids, "runs": list(run_ids), "lo": window[0], "hi": window[1]})
            rows = cursor.fetchall()
        left = {(None, truncate(started_at, Tier.MINUTE)) for _agent, started_at in previous if started_at is not None}
        left |= {(agent_id, truncate(started_at, Tier.MINUTE)) for agent_id, started_at in previous_invocations
                 if agent_id is not None and started_at is not None}
        pairs = {(agent_id, minute) for agent_id, minute, _only_new in rows} | left
        if not pairs:
            return
        # Minute cells touched by new runs only are incremented; the others recomputed.
        added = {(agent_id, minute) for agent_id, minute, only_new in rows if only_new} - left
        now = timezone.now()
        plan = _plan(pairs, now)
        _lock_cells(plan.day)
        if _touches_settled(plan.hour, now):
            bump_settled_generation()
        _apply(plan, now, added, new_ids, window)


@dataclass(frozen=True)
class RebuildResult:
    start: datetime
    end: datetime
    minute_cells: int
    hour_cells: int
    day_cells: int


def rebuild(start: datetime, end: datetime) -> RebuildResult:
    """Drop and recompute all cells of the whole UTC days overlapping [start, end) from raw
    invocations (agent cells) and runs (fleet cells), and the insight cells of those days.

    The bulk path: keys come from one grouped scan per source, not per run; it locks out
    concurrent refreshes for its duration. Days past telemetry retention whose runs are gone are left
    alone: their hour and day cells are all that is left of them.
    """
    start = _kept_from(truncate(start, Tier.DAY))
    end_day = truncate(end, Tier.DAY)
    end = end_day if end_day == end else end_day + TIER_SPAN[Tier.DAY]
    now = timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_GLOBAL_LOCK])
            # Its statements aggregate whole days: JIT-compiling them cost more than it saved (30 days
            # of 10 M spans: 61 s with JIT, 53-55 s without, a fifth of the statements' time compiling).
            cursor.execute("SET LOCAL jit = off")
            bump_settled_generation()
            cursor.execute("DELETE FROM monitoring_rollupcell WHERE bucket >= %s AND bucket < %s", [start, end])
            minute_keys = _distinct_keys(cursor, "minute", max(start, minute_cutoff(now)), end)
            hour_keys = _distinct_keys(cursor, "hour", start, end)
        day_keys = {(a, truncate(h, Tier.DAY)) for a, h in hour_keys}
        _cells_from_source(Tier.MINUTE, minute_keys)
        # Hours straight from the source: one pass, cheaper than merging hundreds of thousands of minutes.
        _cells_from_source(Tier.HOUR, hour_keys)
        _coarse_cells(Tier.DAY, day_keys, now)
        insight_cells.rebuild(start, end)  # the insight pages' cells of the same days
    count = lambda keys: sum(1 for a, _ in keys if a is not None)  # noqa: E731
    return RebuildResult(start, end, count(minute_keys), count(hour_keys), count(day_keys))


def _kept_from(start: datetime) -> datetime:
    """``start``, or later where the days from ``start`` are past retention and hold no runs."""
    cutoff = retention_cutoff()
    if start >= cutoff:
        return start
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(started_at) FROM monitoring_run")  # the oldest partition's index
        oldest = cursor.fetchone()[0]
    return max(start, cutoff if oldest is None else min(cutoff, truncate(oldest, Tier.DAY)))


def _distinct_keys(cursor, unit: str, start: datetime, end: datetime) -> set[Key]:
    """Agent keys of the invocations and fleet keys (agent None) of the runs in [start, end)."""
    if start >= end:
        return set()
    cursor.execute(
        "SELECT DISTINCT agent_id, date_trunc(%(unit)s, started_at) FROM monitoring_invocation "
        "WHERE started_at >= %(start)s AND started_at < %(end)s "
        "UNION SELECT DISTINCT NULL::bigint, date_trunc(%(unit)s, started_at) FROM monitoring_run "
        "WHERE started_at >= %(start)s AND started_at < %(end)s",
        {"unit": unit, "start": start, "end": end},
    )
    return {(a, b) for a, b in cursor.fetchall()}


def prune(now: datetime | None = None) -> dict[str, int]:
    """Delete minute and hour cells past their retention; returns the deleted counts per tier."""
    now = now or timezone.now()
    deleted: dict[str, int] = {}
    for tier, keep in _RETENTION.items():
        cutoff = now - keep - _SAFETY[tier]
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM monitoring_rollupcell WHERE tier = %s AND bucket < %s", [tier, cutoff])
            deleted[tier] = cursor.rowcount
    deleted["insight"] = insight_cells.prune(now - HOUR_RETENTION - _SAFETY[Tier.HOUR])
    if any(deleted.values()):
        bump_settled_generation()
    return deleted
