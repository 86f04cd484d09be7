"""ROI's daily run figures kept past telemetry retention.

The report counts runs per root agent and UTC day from ``monitoring.Run`` (it needs per-run facts,
such as whether a run had a handoff ticket, that rollup cells do not keep) and each agent's own cost
per UTC day from ``monitoring.Invocation``. Before they are dropped
(``monitoring.signals.telemetry_expiring``), their figures are added to ``ArchivedRunDay`` in the
same transaction as the drop, by the same rule (``queries.run_activity_before``: tasks by the run's
day, own cost by the invocation's day, each table by its own start, as retention drops it), so each
run and each invocation is counted exactly once: from the raw rows while they are stored, from the
archive after. Reports over old periods read the archive.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection

from .models import ArchivedRunDay
from .queries import run_activity_before


def archive_expiring(before: datetime) -> int:
    """Add the figures of every run and invocation that started before ``before`` to the archive
    (upsert, adding to a day archived before: late runs of an archived day are counted when they go).
    Returns the (agent, day) rows written."""
    rows = run_activity_before(before)
    if not rows:
        return 0
    table = ArchivedRunDay._meta.db_table
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} (agent_id, day, runs, automated, handoffs, ai_cost)"  # noqa: S608 - model table
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (agent_id, day) DO UPDATE SET"
            " runs = {t}.runs + EXCLUDED.runs, automated = {t}.automated + EXCLUDED.automated,"
            " handoffs = {t}.handoffs + EXCLUDED.handoffs, ai_cost = {t}.ai_cost + EXCLUDED.ai_cost".replace("{t}", table),
            [(r["agent_id"], r["day"], r["runs"], r["automated"], r["handoffs"], r["ai_cost"] or 0) for r in rows],
        )
    return len(rows)
