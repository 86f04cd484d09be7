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


def drop_expired(now: datetime | None = None) -> RetentionResult:
    """Drop the day partitions that ended before the retention cutoff (TELEMETRY_RETENTION_DAYS),
    and delete expired rows from the default partitions (rows that never had a day of their own;
    the default partition only holds rows outside the prepared days, so this stays small).

    Before anything is dropped, ``telemetry_expiring`` lets higher apps keep what they need (tickets
    snapshot their context packet). Rollup cells are not touched: hour cells outlive raw telemetry
    (400 days) and day cells are kept for ever. DETACH takes a brief ACCESS EXCLUSIVE lock on the
    parent (DETACH CONCURRENTLY is not available with a default partition), bounded by
    ``lock_timeout``: a busy table is retried at the next run."""
    started = clock.monotonic()
    now = now or timezone.now()
    result = RetentionResult(cutoff=retention_cutoff(now))
    with transaction.atomic():
        telemetry_expiring.send(sender=RetentionResult, before=result.cutoff)
    # Children first, runs last: a row never outlives the run it points at for longer than a day.
    for table in reversed(PARTITIONED):
        column = PARTITIONED[table]
        with connection.cursor() as cursor:
            if not partitions.is_partitioned(cursor, table):
                continue
            expired = [name for name in partitions.partitions(cursor, table)
                       if (day := partitions.day_of(name)) is not None and _ends(day) <= result.cutoff]
        dropped = []
        for name in expired:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_MAINTENANCE_LOCK])
                cursor.execute("SET LOCAL lock_timeout = '5s'")
                # Deferred foreign-key checks of rows written earlier in an enclosing transaction
                # would block the DROP ("pending trigger events"): run them now.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute(f"ALTER TABLE {table} DETACH PARTITION {name}")
                cursor.execute(f"DROP TABLE {name}")
            dropped.append(name)
        result.dropped[table] = dropped
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {partitions.default_name(table)} WHERE {column} < %s",  # noqa: S608
                           [result.cutoff])
            result.deleted_from_default[table] = cursor.rowcount
    result.seconds = clock.monotonic() - started
    return result


def _ends(day: date) -> datetime:
    return partitions.day_start(day + timedelta(days=1))


def maintain(now: datetime | None = None) -> dict:
    """Both upkeep steps, for beat: prepare days ahead, then drop expired ones."""
    created = ensure_partitions(now)
    expired = drop_expired(now)
    return {"created": created, "dropped": {t: len(n) for t, n in expired.dropped.items()},
            "deleted_from_default": expired.deleted_from_default, "seconds": round(expired.seconds, 3)}
