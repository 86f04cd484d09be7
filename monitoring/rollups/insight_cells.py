"""Keeping the insight cells (``insight_models``) equal to the raw rows they sum.

Contract used by ingest: whenever a run's invocations or agent-map edges are replaced (ingest,
feedback, a re-derivation), ``apply_invocations`` / ``apply_edges`` get the rows removed and the
rows written, in the same transaction. Each cell is a sum over rows, so subtracting the removed
rows and adding the written ones leaves every cell equal to a rebuild from raw data, whatever the
order spans arrive in or how often a batch is replayed (a replay removes and writes the same rows:
they cancel before anything is sent). Removed rows carry their own old bucket and keys, so a run
that moved (a late root span starting it earlier, a failure now attributed to another agent)
leaves its old cells.

Concurrency: the cells are changed by relative upserts (``x = x + delta``) in one sorted order, so
concurrent transactions never lose an update or deadlock among themselves; the shared rollup lock
keeps them out of a running ``rebuild``. Retention never touches the cells: the pages keep their
history after the raw partitions are dropped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime

from django.db import connection

from monitoring.rollups import insight_statements as statements
from monitoring.rollups.models import ROLLUP_LOCK, Tier

# Column order of the rows the apply functions take (tuples, or objects with these attributes).
INVOCATION_COLUMNS = ("started_at", "agent_id", "prompt_id", "prompt_version", "model", "status", "escalations",
                      "quality_score", "cost", "duration_ms", "fingerprint", "caller_agent_id", "input_tokens",
                      "output_tokens")
_FINGERPRINT = INVOCATION_COLUMNS.index("fingerprint")
EDGE_COLUMNS = ("started_at", "source_id", "target_kind", "target_name", "target_agent_id", "department_id",
                "calls", "errors", "total_ms", "cost")

CELL_TABLES = ("monitoring_versioncell", "monitoring_failurecell", "monitoring_edgecell")


def _signed(removed: Iterable[Sequence], added: Iterable[Sequence]) -> list[tuple[int, tuple]]:
    """Rows with their net sign; a row removed and written again unchanged cancels out."""
    net: Counter = Counter()
    for row in removed:
        net[tuple(row)] -= 1
    for row in added:
        net[tuple(row)] += 1
    return sorted(((n, row) for row, n in net.items() if n), key=lambda item: repr(item[1]))


def _run(statement, table: str, signed: list[tuple[int, tuple]], fields) -> None:
    params = {"sign": [n for n, _ in signed]}
    for index, (name, _type) in enumerate(fields):
        params[name] = [row[index] for _, row in signed]
    with connection.cursor() as cursor:
        # One round trip: the shared rollup lock (keeps a rebuild out), then the upsert.
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%(rollup_lock)s); " + statement.as_string(cursor.cursor),
                       {**params, "rollup_lock": ROLLUP_LOCK})
        empty = [cell_id for cell_id, count in cursor.fetchall() if count == 0]
        if empty:
            cursor.execute(f"DELETE FROM {table} WHERE id = ANY(%s)", [empty])  # noqa: S608 - a constant name


def invocation_tuple(row) -> tuple:
    """An invocation (InvocationRow or model) as the tuple ``apply_invocations`` takes."""
    return (row.started_at, row.agent_id, row.prompt_id, row.prompt_version, row.model, row.status,
            row.escalations > 0, row.quality_score, row.cost, float(row.duration_ms), row.fingerprint,
            row.caller_agent_id, row.input_tokens, row.output_tokens)


def apply_invocations(removed: Iterable[Sequence], added: Iterable[Sequence]) -> None:
    """Version and failure cells follow a change of invocations: ``removed`` and ``added`` are
    tuples in ``INVOCATION_COLUMNS`` order, ``escalations`` as a boolean (``invocation_tuple``)."""
    signed = _signed(removed, added)
    if not signed:
        return
    _run(statements.version_cells(), "monitoring_versioncell", signed, statements.INVOCATION_FIELDS)
    failed = [(n, row) for n, row in signed if row[_FINGERPRINT]]
    if failed:
        _run(statements.failure_cells(), "monitoring_failurecell", failed, statements.INVOCATION_FIELDS)


def apply_edges(removed: Iterable[Sequence], added: Iterable[Sequence]) -> None:
    """Edge cells follow a change of agent-map edges (tuples in ``EDGE_COLUMNS`` order)."""
    signed = _signed(removed, added)
    if signed:
        _run(statements.edge_cells(), "monitoring_edgecell", signed, statements.EDGE_FIELDS)


def rebuild(start: datetime, end: datetime) -> None:
    """Recompute the hour and day cells of ``[start, end)`` (whole UTC days) from the raw invocations
    and edges. Precondition: the caller holds the rollup lock exclusively (``cells.rebuild``)."""
    params = {"start": start, "end": end}
    with connection.cursor() as cursor:
        for table in CELL_TABLES:
            cursor.execute(f"DELETE FROM {table} WHERE bucket >= %s AND bucket < %s", [start, end])  # noqa: S608
        for statement in (statements.version_cells(True), statements.failure_cells(True),
                          statements.edge_cells(True)):
            cursor.execute(statement.as_string(cursor.cursor), params)


def prune(hour_cutoff: datetime) -> int:
    """Delete hour cells that started before ``hour_cutoff`` (day cells are kept); returns the count."""
    deleted = 0
    with connection.cursor() as cursor:
        for table in CELL_TABLES:
            cursor.execute(f"DELETE FROM {table} WHERE tier = %s AND bucket < %s", [Tier.HOUR, hour_cutoff])  # noqa: S608
            deleted += cursor.rowcount
    return deleted


def record_signatures(signatures: Iterable) -> None:
    """Store the readable signature of fingerprints not seen before (objects with FailureSignature's
    attributes and ``fingerprint``). A fingerprint is a hash of its signature, so the first is kept."""
    rows = {s.fingerprint: s for s in signatures if s is not None}
    if not rows:
        return
    values = [(fp, s.agent_id, s.kind[:20], s.step_name[:255], s.tool_name[:255], s.error_type[:255],
               s.message[:255]) for fp, s in sorted(rows.items())]
    columns = list(zip(*values, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO monitoring_failuresignaturerecord (fingerprint, agent_id, kind, step_name, tool_name,"
            " error_type, message) SELECT f, a, k, s, t, e, m FROM unnest(%s::text[], %s::bigint[], %s::text[],"
            " %s::text[], %s::text[], %s::text[], %s::text[]) AS u(f, a, k, s, t, e, m)"
            " WHERE a IS NULL OR EXISTS (SELECT 1 FROM agentops_agent WHERE id = a)"
            " ON CONFLICT (fingerprint) DO NOTHING",
            [list(c) for c in columns],
        )
