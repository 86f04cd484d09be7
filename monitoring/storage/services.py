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
    a default partition). The five parents are locked at once, in the order ingest writes them (so
    the two never deadlock), with ``lock_timeout``; they are held for the drops only (milliseconds),
    after the receivers' reads."""
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
        _drop_before(before, tables, result)
    result.seconds = clock.monotonic() - started
    return result


def _drop_before(before: datetime, tables: list[str], result: RetentionResult) -> None:
    """One retention transaction: every day partition that ends by ``before`` and the default
    partitions' rows that started before it (see ``drop_expired``)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_MAINTENANCE_LOCK])
        expired = {
            table: [name for name in partitions.partitions(cursor, table)
                    if (day := partitions.day_of(name)) is not None and _ends(day) <= before]
            for table in tables
        }
        responses = telemetry_expiring.send(sender=RetentionResult, before=before)
        cursor.execute("SET LOCAL lock_timeout = '5s'")
        # Deferred foreign-key checks of rows written earlier in an enclosing transaction would
        # block the DROP ("pending trigger events"): run them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE")
        for table in tables:
            for name in expired[table]:
                cursor.execute(f"ALTER TABLE {table} DETACH PARTITION {name}")
                cursor.execute(f"DROP TABLE {name}")
            result.dropped[table] += expired[table]
            column = PARTITIONED[table]
            cursor.execute(f"DELETE FROM {partitions.default_name(table)} WHERE {column} < %s",  # noqa: S608
                           [before])
            result.deleted_from_default[table] += cursor.rowcount
        for _receiver, then in responses:
            if callable(then):
                then()


def _ends(day: date) -> datetime:
    return partitions.day_start(day + timedelta(days=1))


def maintain(now: datetime | None = None) -> dict:
    """Both upkeep steps, for beat: prepare days ahead, then drop expired ones."""
    created = ensure_partitions(now)
    expired = drop_expired(now)
    return {"created": created, "dropped": {t: len(n) for t, n in expired.dropped.items()},
            "deleted_from_default": expired.deleted_from_default, "seconds": round(expired.seconds, 3)}
