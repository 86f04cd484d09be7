"""Partition upkeep: days prepared ahead, rows outside them moved in, expired days dropped whole.

Run by beat (``tasks.maintain_partitions``, hourly) and by ``manage.py maintain_partitions``.
"""

from __future__ import annotations

import time as clock
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from monitoring.signals import telemetry_expiring
from monitoring.storage import partitions
from monitoring.storage.partitions import PARTITIONED

# Advisory lock key held while partitions are created or dropped (two maintainers never race).
_MAINTENANCE_LOCK = 0x50415254  # "PART"


def retention_cutoff(now: datetime | None = None) -> datetime:
    """Start of the oldest UTC day still kept: rows that started before it are past retention."""
    now = now or timezone.now()
    return partitions.day_start(now.date() - timedelta(days=settings.TELEMETRY_RETENTION_DAYS))


def ensure_partitions(now: datetime | None = None, *, ahead: int | None = None) -> dict[str, int]:
    """Create the partitions of yesterday, today and ``ahead`` days (TELEMETRY_PARTITION_DAYS_AHEAD),
    and of every kept day that has rows waiting in a default partition (moving them in). Returns
    the partitions created per table. Idempotent."""
    now = now or timezone.now()
    ahead = settings.TELEMETRY_PARTITION_DAYS_AHEAD if ahead is None else ahead
    today = now.date()
    wanted = {today + timedelta(days=offset) for offset in range(-1, ahead + 1)}
    created: dict[str, int] = {}
    cutoff, last = retention_cutoff(now), partitions.day_start(today + timedelta(days=ahead + 1))
    for table, column in PARTITIONED.items():
        with transaction.atomic(), connection.cursor() as cursor:
            if not partitions.is_partitioned(cursor, table):
                continue
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_MAINTENANCE_LOCK])
            existing = set(partitions.partitions(cursor, table))
            cursor.execute(
                f"SELECT DISTINCT date_trunc('day', {column} AT TIME ZONE 'UTC')::date"  # noqa: S608 - constants
                f" FROM {partitions.default_name(table)} WHERE {column} >= %s AND {column} < %s",
                [cutoff, last],
            )
            days = wanted | {day for (day,) in cursor.fetchall()}
            todo = sorted(day for day in days if partitions.partition_name(table, day) not in existing)
            for day in todo:
                partitions.create_day(cursor, table, day)
            created[table] = len(todo)
    return created


@dataclass
class RetentionResult:
    cutoff: datetime
    dropped: dict[str, list[str]] = field(default_factory=dict)  # table -> partitions dropped
    deleted_from_default: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    keep_seconds: float = 0.0  # the receivers keeping what they need (tickets, ROI): nobody waits on it
    lock_seconds: float = 0.0  # parents locked exclusively (ingest and pages wait at most this long)
    unlink_seconds: float = 0.0  # dropping the detached tables, after the lock is released


def drop_expired(now: datetime | None = None, *, days_per_transaction: int = 7) -> RetentionResult:
    """Drop the day partitions that ended before the retention cutoff (TELEMETRY_RETENTION_DAYS),
    and delete expired rows from the default partitions (rows that never had a day of their own;
    the default partition only holds rows outside the prepared days, so this stays small).

    Oldest days first, at most ``days_per_transaction`` days per transaction (a backlog of months,
    after an upgrade or a beat outage, would otherwise lock more partitions and indexes than
    PostgreSQL's lock table holds). Each transaction: ``telemetry_expiring`` first lets higher apps
    keep what they need of the rows about to go (tickets snapshot their context packet, ROI archives
    its daily figures), then the partitions are detached and dropped, so a failure (a lock timeout)
    leaves those days as they were and the next run starts over; nothing is archived twice. Rollup
    cells are not touched: hour cells outlive raw telemetry (400 days), day cells are kept for ever.

    DETACH needs an ACCESS EXCLUSIVE lock on each parent (DETACH CONCURRENTLY is not available with
    a default partition). The parents are locked at once, in the order ingest writes them (so the
    two never deadlock), with ``lock_timeout``, after the receivers' reads, and held for the DETACH
    only (catalog changes: milliseconds whatever the day's size). The detached tables are dropped
    after the commit, each on its own: removing gigabytes of files then locks nothing anyone reads.
    A detached table left by an interrupted run is dropped by the next one."""
    started = clock.monotonic()
    now = now or timezone.now()
    result = RetentionResult(cutoff=retention_cutoff(now))
    with connection.cursor() as cursor:
        tables = [table for table in PARTITIONED if partitions.is_partitioned(cursor, table)]
        days = sorted({day for table in tables for name in partitions.partitions(cursor, table)
                       if (day := partitions.day_of(name)) is not None and _ends(day) <= result.cutoff})
    for table in tables:
        result.dropped[table], result.deleted_from_default[table] = [], 0
    # Each step's cutoff: the end of its last day, the final cutoff for the last step.
    steps = [_ends(days[i + days_per_transaction - 1]) for i in range(0, len(days), days_per_transaction)
             if i + days_per_transaction - 1 < len(days)]
    for before in [*steps, result.cutoff]:
        detached = _drop_before(before, tables, result)
        _unlink(detached, result)
    _unlink(_left_detached(tables, result.cutoff), result)
    result.seconds = clock.monotonic() - started
    return result


def _unlink(names: list[str], result: RetentionResult) -> None:
    """Drop detached day tables, one statement each (inside an enclosing transaction, in it)."""
    started = clock.monotonic()
    for name in names:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {name}")
    result.unlink_seconds += clock.monotonic() - started


def _left_detached(tables: list[str], cutoff: datetime) -> list[str]:
    """Day tables of the partitioned tables that are no longer attached (a run stopped between its
    DETACH and its DROP) and are past retention."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND NOT relispartition"
            " AND relnamespace = 'public'::regnamespace AND relname LIKE ANY(%s)",
            [[f"{table}_p%" for table in tables]],
        )
        names = [name for (name,) in cursor.fetchall()]
    return sorted(name for name in names if name.rsplit("_p", 1)[0] in tables
                  and (day := partitions.day_of(name)) is not None and _ends(day) <= cutoff)


def _drop_before(before: datetime, tables: list[str], result: RetentionResult) -> list[str]:
    """One retention transaction: every day partition that ends by ``before`` is detached and the
    default partitions' rows that started before it deleted (see ``drop_expired``). Returns the
    detached tables, to be dropped once this transaction has committed."""
    detached: list[str] = []
    with transaction.atomic(), connection.cursor() as cursor:
        kept = clock.monotonic()
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_MAINTENANCE_LOCK])
        expired = {
            table: [name for name in partitions.partitions(cursor, table)
                    if (day := partitions.day_of(name)) is not None and _ends(day) <= before]
            for table in tables
        }
        responses = telemetry_expiring.send(sender=RetentionResult, before=before)
        locked = clock.monotonic()
        result.keep_seconds += locked - kept
        cursor.execute("SET LOCAL lock_timeout = '5s'")
        # Deferred foreign-key checks of rows written earlier in an enclosing transaction would
        # block the DROP ("pending trigger events"): run them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE")
        for table in tables:
            for name in expired[table]:
                cursor.execute(f"ALTER TABLE {table} DETACH PARTITION {name}")
            detached += expired[table]
            result.dropped[table] += expired[table]
            column = PARTITIONED[table]
            cursor.execute(f"DELETE FROM {partitions.default_name(table)} WHERE {column} < %s",  # noqa: S608
                           [before])
            result.deleted_from_default[table] += cursor.rowcount
        for _receiver, then in responses:
            if callable(then):
                then()
    result.lock_seconds += clock.monotonic() - locked
    return detached


def _ends(day: date) -> datetime:
    return partitions.day_start(day + timedelta(days=1))


def maintain(now: datetime | None = None) -> dict:
    """Both upkeep steps, for beat: prepare days ahead, then drop expired ones."""
    created = ensure_partitions(now)
    expired = drop_expired(now)
    return {"created": created, "dropped": {t: len(n) for t, n in expired.dropped.items()},
            "deleted_from_default": expired.deleted_from_default, "seconds": round(expired.seconds, 3)}
