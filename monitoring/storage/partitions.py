"""Time-partitioned telemetry tables: names, DDL and the conversion of a plain table.

Every telemetry table is a native PostgreSQL range-partitioned table over one timestamp column, with
one partition per UTC day (``<table>_pYYYYMMDD``) and a DEFAULT partition (``<table>_default``) that
takes any row outside the prepared days (clock-skewed senders, backfills): no span is refused or
lost for want of a partition. ``services.ensure_partitions`` moves such rows into their day's
partition when it creates it. A day is the unit of retention, so whole partitions are dropped.

Primary keys and unique constraints include the partition column (PostgreSQL requires it). Foreign
keys *to* a partitioned table would have to name that column too, so the rows that point at runs,
steps or escalations (steps, scores, escalations, edges, tickets, draft cases) keep plain ids
without a database constraint (``db_constraint=False``): the write path keeps them consistent, and
retention drops a run's partition and its children's by the same day. Foreign keys *from* these
tables to ordinary tables (agents, prompt versions, departments) stay.

Table and column names here come from ``PARTITIONED`` (constants), never from input.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from django.db import transaction

# table -> partition column. Runs by their start; a run's steps by their own start (a run that
# crosses midnight has steps in two days; the later ones are dropped a day after the run).
PARTITIONED: dict[str, str] = {
    "monitoring_run": "started_at",
    "monitoring_step": "started_at",
    "monitoring_score": "occurred_at",
    "monitoring_escalation": "occurred_at",
    "monitoring_interactionedge": "started_at",
    "monitoring_invocation": "started_at",  # an invocation by its span's start, like the steps
}

_DAY_SUFFIX = re.compile(r"_p(\d{8})$")


def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def default_name(table: str) -> str:
    return f"{table}_default"


def day_of(name: str) -> date | None:
    """The day a partition holds, from its name (None for the default partition)."""
    match = _DAY_SUFFIX.search(name)
    return datetime.strptime(match.group(1), "%Y%m%d").date() if match else None  # noqa: DTZ007 - a date


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def is_partitioned(cursor, table: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)", [table])
    return cursor.fetchone() is not None


def partitions(cursor, table: str) -> list[str]:
    """Names of ``table``'s partitions (day partitions and the default one)."""
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = to_regclass(%s) ORDER BY c.relname",
        [table],
    )
    return [name for (name,) in cursor.fetchall()]


def columns(cursor, table: str) -> list[str]:
    cursor.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped"
        " ORDER BY attnum",
        [table],
    )
    return [name for (name,) in cursor.fetchall()]


def create_day(cursor, table: str, day: date) -> int:
    """Create ``table``'s partition for ``day`` unless it exists; rows of that day waiting in the
    default partition move into it (the same transaction). Returns the number of rows moved.

    ATTACH PARTITION takes a SHARE UPDATE EXCLUSIVE lock on the parent: ingest and pages go on.
    Precondition: inside a transaction."""
    name, column = partition_name(table, day), PARTITIONED[table]
    cursor.execute("SELECT to_regclass(%s)", [name])
    if cursor.fetchone()[0] is not None:
        return 0
    start, end = day_start(day), day_start(day + timedelta(days=1))
    cursor.execute(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE"
                   " INCLUDING COMPRESSION)")
    cursor.execute(f"ALTER TABLE {name} ADD CONSTRAINT {name}_range"
                   f" CHECK ({column} >= %s AND {column} < %s)", [start, end])
    moved = 0
    default = default_name(table)
    cursor.execute("SELECT to_regclass(%s)", [default])
    if cursor.fetchone()[0] is not None:
        names = ", ".join(columns(cursor, table))
        cursor.execute(
            f"WITH moved AS (DELETE FROM {default} WHERE {column} >= %s AND {column} < %s RETURNING {names})"  # noqa: S608
            f" INSERT INTO {name} ({names}) SELECT {names} FROM moved",
            [start, end],
        )
        moved = cursor.rowcount
    # The CHECK constraint proves the range, so ATTACH skips its validation scan of the new table.
    cursor.execute(f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)", [start, end])
    cursor.execute(f"ALTER TABLE {name} DROP CONSTRAINT {name}_range")
    return moved


def create_default(cursor, table: str) -> None:
    cursor.execute(f"CREATE TABLE IF NOT EXISTS {default_name(table)} PARTITION OF {table} DEFAULT")


def convert(cursor, table: str, *, demote_unique: dict[str, str] | None = None, chunk: int = 200_000) -> int:
    """Turn the plain table ``table`` into a partitioned one with the same columns, defaults, checks,
    indexes and outgoing foreign keys (but those to other partitioned tables), keeping its rows.

    Unique constraints get the partition column appended (PostgreSQL requires it), except those in
    ``demote_unique`` (constraint name -> index name), which become plain indexes on the same
    columns. Foreign keys pointing *at* the table are dropped (see the module docstring). Rows are
    copied in id chunks of ``chunk``, each in its own transaction when the caller is not inside one
    (a large table is not copied in one transaction). Re-running after an interruption resumes the
    copy. Returns the number of rows copied."""
    column = PARTITIONED[table]
    old = f"{table}_unpartitioned"
    if not is_partitioned(cursor, table):
        with transaction.atomic():
            _rename_old(cursor, table, old)
            cursor.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS"
                           f" INCLUDING STORAGE INCLUDING IDENTITY) PARTITION BY RANGE ({column})")
            create_default(cursor, table)
    cursor.execute("SELECT to_regclass(%s)", [old])
    if cursor.fetchone()[0] is None:
        return 0  # converted before
    cursor.execute(f"SELECT DISTINCT date_trunc('day', {column} AT TIME ZONE 'UTC')::date FROM {old}")  # noqa: S608
    days = sorted(day for (day,) in cursor.fetchall())
    for start in range(0, len(days), 30):  # a month per transaction: each new table takes locks
        with transaction.atomic():
            for day in days[start:start + 30]:
                create_day(cursor, table, day)
    copied = _copy_rows(cursor, table, old, chunk)
    with transaction.atomic():
        _finish(cursor, table, old, column, demote_unique or {})
    return copied


def _rename_old(cursor, table: str, old: str) -> None:
    """Rename the table out of the way (its indexes keep their names until it is dropped, then the
    new table's get them: index names are schema-wide, and Django knows them); drop the foreign keys
    that point at it."""
    cursor.execute(
        "SELECT conname, conrelid::regclass::text FROM pg_constraint WHERE contype = 'f' AND confrelid = to_regclass(%s)",
        [table],
    )
    for name, referencing in cursor.fetchall():
        cursor.execute(f'ALTER TABLE {referencing} DROP CONSTRAINT "{name}"')
    cursor.execute(f"ALTER TABLE {table} RENAME TO {old}")


def _copy_rows(cursor, table: str, old: str, chunk: int) -> int:
    names = ", ".join(columns(cursor, old))
    cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table}")  # noqa: S608 - resume after an interruption
    done = cursor.fetchone()[0]
    cursor.execute(f"SELECT coalesce(max(id), 0) FROM {old}")  # noqa: S608
    last = cursor.fetchone()[0]
    copied = 0
    while done < last:
        with transaction.atomic():
            cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {old} WHERE id > %s AND id <= %s",  # noqa: S608
                           [done, done + chunk])
        copied += cursor.rowcount
        done += chunk
    return copied


def _finish(cursor, table: str, old: str, column: str, demote_unique: dict[str, str]) -> None:
    """Keys, indexes and foreign keys of the old table on the new one; the old table dropped; the
    id sequence continued."""
    cursor.execute(
        "SELECT c.conname, c.contype, pg_get_constraintdef(c.oid), c.confrelid::regclass::text"
        " FROM pg_constraint c WHERE c.conrelid = to_regclass(%s) AND c.contype IN ('p', 'u', 'f')",
        [old],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
        " WHERE i.indrelid = to_regclass(%s) AND NOT EXISTS"
        " (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)",
        [old],
    )
    indexes = cursor.fetchall()
    cursor.execute(f"SELECT pg_get_serial_sequence('{old}', 'id')")
    old_sequence = cursor.fetchone()[0]
    cursor.execute(f"DROP TABLE {old} CASCADE")
    for original, kind, definition, target in constraints:
        if kind == "p":
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{table}_pkey" PRIMARY KEY (id, {column})')
        elif kind == "u":
            cols = re.search(r"UNIQUE \((.*)\)", definition).group(1)
            if original in demote_unique:
                cursor.execute(f'CREATE INDEX "{demote_unique[original]}" ON {table} ({cols})')
            else:
                cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{original}" UNIQUE ({cols}, {column})')
        elif target not in PARTITIONED:
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{original}" {definition}')
    for _name, definition in indexes:
        cursor.execute(re.sub(rf"ON (ONLY )?(public\.)?{old} ", f"ON {table} ", definition))
    cursor.execute(f"SELECT pg_get_serial_sequence('{table}', 'id')")
    sequence = cursor.fetchone()[0]
    if old_sequence and sequence and sequence != old_sequence:
        cursor.execute(f"ALTER SEQUENCE {sequence} RENAME TO {old_sequence.split('.')[-1]}")
        sequence = old_sequence
    cursor.execute(f"SELECT setval('{sequence}', coalesce((SELECT max(id) FROM {table}), 0) + 1, false)")  # noqa: S608
