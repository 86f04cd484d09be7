"""The dashboard benchmark's telemetry, generated inside PostgreSQL a day partition at a time.

Each UTC day of the loaded range is built as a standalone table per telemetry table (runs, steps,
invocations, agent-map edges): rows inserted with ``generate_series`` into a table without indexes,
then its indexes and keys built once (a sorted build packs an index tighter and costs far less than
maintaining it row by row), then attached as that day's partition (a CHECK constraint proves the
range, so ATTACH skips its scan). Days are spread over ``workers`` database sessions.

Shape: 10 spans per run, 50 agents, 30 days; lognormal latencies (Box-Muller), 5 % errors, 3 %
escalated, failed and escalated runs in 40 failure groups, a quality score on 60 % of runs. One run
in three is an orchestrator handing work to the next agent: its span 5 is that sub-agent's
``invoke_agent`` span with spans 6 and 7 under it (the sub-agent's own steps), so the run has two
invocations (the top one and the nested one) and an agent -> agent edge; every run calls a tool.
Spans carry no message text and no attributes beyond the columns.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

SPANS_PER_RUN = 10
AGENTS = 50
DAYS = 30
TABLES = ("monitoring_run", "monitoring_step", "monitoring_invocation", "monitoring_interactionedge")

_RUNS = """
INSERT INTO {table} (id, trace_id, agent_id, root_span_id, name, session_id, started_at, ended_at, duration_ms,
    status, error_type, model, prompt_version, step_count, input_tokens, output_tokens, cost, quality_score,
    has_escalation, fingerprint, input_preview, output_preview, ingested_at)
SELECT g, md5(g::text), a.ids[1 + (g %% array_length(a.ids, 1))], substr(md5(g::text), 1, 16), 'invoke_agent',
       'session-' || (g / 7), s.started_at, s.started_at + make_interval(secs => s.d / 1000), s.d,
       CASE WHEN s.r < 0.05 THEN 'error' ELSE 'ok' END, CASE WHEN s.r < 0.05 THEN 'ToolTimeout' ELSE '' END,
       'gpt-4o-mini', 'v' || (1 + g %% 3), {steps}, 800 + g %% 400, 150 + g %% 90,
       round((0.0002 + (g %% 100) / 10000.0)::numeric, 6),
       CASE WHEN g %% 5 < 3 THEN round((0.5 + random() / 2)::numeric, 3)::float END, s.r > 0.97,
       CASE WHEN s.r < 0.05 OR s.r > 0.97 THEN rpad(md5('group ' || (g %% 40)), 40, '0') ELSE '' END,
       '', '', now()
FROM generate_series(%(first)s, %(last)s) g
CROSS JOIN (SELECT %(agents)s::bigint[] AS ids) a
CROSS JOIN LATERAL (
    SELECT %(lo)s::timestamptz + random() * (%(hi)s::timestamptz - %(lo)s::timestamptz) AS started_at,
           exp(7.3 + 0.7 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())) AS d,
           random() AS r, g AS k
) s
"""

# The runs of the day with their sub-agent (one run in three: the next agent in slug order).
_WITH_SUB = """
WITH src AS (
    SELECT r.*, CASE WHEN r.id %% 3 = 0 THEN a.ids[1 + ((r.id + 1) %% array_length(a.ids, 1))] END AS sub_id,
           round(r.cost / 2, 6) AS sub_cost
    FROM {runs} r CROSS JOIN (SELECT %(agents)s::bigint[] AS ids) a
)
"""

# Steps: the root agent span and 9 children (llm and tool calls); in a run with a sub-agent, span 5
# is its invoke_agent span and spans 6 and 7 its own children.
_STEPS = _WITH_SUB + """
INSERT INTO {table} (id, run_id, span_id, parent_span_id, agent_id, declared_agent, name, kind, operation, model,
    tool_name, started_at, ended_at, duration_ms, status, error_type, error_message, input_tokens, output_tokens,
    cost, input, output, attributes, events)
SELECT (r.id - 1) * {per_run} + i + 1, r.id, CASE WHEN i = 0 THEN r.root_span_id ELSE substr(md5(r.trace_id || i), 1, 16) END,
       CASE WHEN i = 0 THEN '' WHEN r.sub_id IS NOT NULL AND i IN (6, 7) THEN substr(md5(r.trace_id || 5), 1, 16)
            ELSE r.root_span_id END,
       CASE WHEN r.sub_id IS NOT NULL AND i IN (5, 6, 7) THEN r.sub_id ELSE r.agent_id END,
       i = 0 OR (r.sub_id IS NOT NULL AND i = 5),
       CASE WHEN i = 0 OR (r.sub_id IS NOT NULL AND i = 5) THEN 'invoke_agent'
            WHEN i %% 2 = 1 THEN 'chat gpt-4o-mini' ELSE 'execute_tool lookup' END,
       CASE WHEN i = 0 OR (r.sub_id IS NOT NULL AND i = 5) THEN 'agent' WHEN i %% 2 = 1 THEN 'llm' ELSE 'tool' END,
       '', '', '', r.started_at, r.ended_at, r.duration_ms / greatest(i, 1), 'ok', '', '', 0, 0, 0, '', '', '{{}}', '[]'
FROM src r CROSS JOIN generate_series(0, {per_run} - 1) i
"""

# Agent-map edges: every run calls a tool; a run with a sub-agent also invokes it.
_EDGES = _WITH_SUB + """
INSERT INTO {table} (id, run_id, started_at, department_id, source_id, target_kind, target_agent_id, target_name,
    calls, errors, total_ms, cost)
SELECT 2 * r.id, r.id, r.started_at, %(department)s, r.agent_id, 'tool', NULL, 'lookup', 4, 0, r.duration_ms / 2, 0 FROM src r
UNION ALL
SELECT 2 * r.id + 1, r.id, r.started_at, %(department)s, r.agent_id, 'agent', r.sub_id, s.slug, 1,
       CASE WHEN r.status = 'error' THEN 1 ELSE 0 END, r.duration_ms / 3, r.cost / 2
FROM src r JOIN agentops_agent s ON s.id = r.sub_id
"""

# Invocations: the top one of every run (id 2 x run); the nested one of a run with a sub-agent takes a third of
# the run's time and half its tokens and cost.
_INVOCATIONS = _WITH_SUB + """
INSERT INTO {table} (id, run_id, trace_id, span_id, parent_span_id, agent_id, caller_agent_id, name,
    started_at, ended_at, duration_ms, status, error_type, model, prompt_version, prompt_id, step_count,
    input_tokens, output_tokens, cost, total_input_tokens, total_output_tokens, total_cost, quality_score, escalations,
    fingerprint)
SELECT 2 * id, id, trace_id, root_span_id, '', agent_id, NULL::bigint, name, started_at, ended_at, duration_ms, status,
       error_type, model, prompt_version, NULL::bigint, step_count - CASE WHEN sub_id IS NULL THEN 0 ELSE 3 END,
       input_tokens - CASE WHEN sub_id IS NULL THEN 0 ELSE input_tokens / 2 END,
       output_tokens - CASE WHEN sub_id IS NULL THEN 0 ELSE output_tokens / 2 END,
       cost - CASE WHEN sub_id IS NULL THEN 0 ELSE sub_cost END, input_tokens, output_tokens, cost, quality_score,
       has_escalation::int, fingerprint
FROM src
UNION ALL
SELECT 2 * id + 1, id, trace_id, substr(md5(trace_id || 5), 1, 16), root_span_id, sub_id, agent_id, 'invoke_agent',
       started_at, ended_at, duration_ms / 3, status, error_type, model, prompt_version, NULL, 3, input_tokens / 2,
       output_tokens / 2, sub_cost, input_tokens / 2, output_tokens / 2, sub_cost, NULL, 0, ''
FROM src WHERE sub_id IS NOT NULL
"""


@dataclass(frozen=True)
class Day:
    day: date
    first: int  # run ids (series numbers) first..last
    last: int
    lo: datetime  # the runs start in [lo, hi)
    hi: datetime


def plan(runs: int, now: datetime, days: int = DAYS) -> list[Day]:
    """The loaded range [now - days, now) cut at UTC midnights, runs spread evenly over it."""
    start = now - timedelta(days=days)
    total = (now - start).total_seconds()
    result, day = [], start.date()
    while datetime.combine(day, datetime.min.time(), tzinfo=UTC) < now:
        day_lo = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
        lo, hi = max(day_lo, start), min(day_lo + timedelta(days=1), now)
        first = round(runs * (lo - start).total_seconds() / total) + 1
        last = round(runs * (hi - start).total_seconds() / total)
        if last >= first:
            result.append(Day(day, first, last, lo, hi))
        day += timedelta(days=1)
    return result


def _keys_and_indexes(cursor, parent: str) -> list[tuple[str, str]]:
    """(kind, definition) of the parent's keys ('k': a constraint definition) and other indexes ('i':
    CREATE INDEX statements), to build the same on a table about to become its partition."""
    cursor.execute(
        "SELECT pg_get_indexdef(i.indexrelid), c.contype, pg_get_constraintdef(c.oid) FROM pg_index i"
        " LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid"
        " WHERE i.indrelid = to_regclass(%s)",
        [parent],
    )
    return [("k", constraint) if kind in ("p", "u") else ("i", index) for index, kind, constraint in cursor.fetchall()]


def _build_day(conn, day: Day, context: dict, lock: threading.Lock) -> None:
    from monitoring.storage import partitions

    params = {"first": day.first, "last": day.last, "lo": day.lo, "hi": day.hi, "agents": context["agents"],
              "department": context["department"]}
    names = {table: partitions.partition_name(table, day.day) for table in TABLES}
    start, end = partitions.day_start(day.day), partitions.day_start(day.day + timedelta(days=1))
    with conn, conn.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")
        for table, name in names.items():
            cursor.execute(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS"
                           " INCLUDING STORAGE INCLUDING COMPRESSION)")
        runs = names["monitoring_run"]
        cursor.execute(_RUNS.format(table=runs, steps=SPANS_PER_RUN), params)
        cursor.execute(_STEPS.format(table=names["monitoring_step"], runs=runs, per_run=SPANS_PER_RUN), params)
        cursor.execute(_EDGES.format(table=names["monitoring_interactionedge"], runs=runs), params)
        cursor.execute(_INVOCATIONS.format(table=names["monitoring_invocation"], runs=runs), params)
        for table, name in names.items():
            for n, (kind, definition) in enumerate(context["indexes"][table]):
                if kind == "k":
                    cursor.execute(f"ALTER TABLE {name} ADD CONSTRAINT {name}_k{n} {definition}")
                else:
                    cursor.execute(re.sub(r"^CREATE (UNIQUE )?INDEX \S+ ON (ONLY )?\S+ ",
                                          rf"CREATE \1INDEX {name}_i{n} ON {name} ", definition))
            column = partitions.PARTITIONED[table]
            cursor.execute(f"ALTER TABLE {name} ADD CONSTRAINT {name}_range CHECK ({column} >= %s AND {column} < %s)",
                           [start, end])
        with lock:  # ATTACH locks the parent: one session at a time, in one order (no deadlock)
            for table, name in names.items():
                cursor.execute(f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)", [start, end])
                cursor.execute(f"ALTER TABLE {name} DROP CONSTRAINT {name}_range")
    with conn, conn.cursor() as cursor:
        for name in names.values():
            cursor.execute(f"ANALYZE {name}")


def load(dsn: str, runs: int, agents: list[int], department: int, *, workers: int = 2,
         share=None) -> list[Day]:
    """Replace the telemetry with ``runs`` generated runs (and their steps, invocations and edges).
    ``share`` (a bench.hostload.HostShare) is told each database session's backend (CPU accounting)."""
    import psycopg2

    from monitoring.storage import partitions, services

    now = datetime.now(UTC)
    days = plan(runs, now)
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cursor:
        context = {"agents": agents, "department": department,
                   "indexes": {table: _keys_and_indexes(cursor, table) for table in TABLES}}
        cursor.execute("TRUNCATE monitoring_rollupcell, monitoring_escalation, monitoring_score, "
                       + ", ".join(TABLES))
        for table in TABLES:
            for day in days:
                cursor.execute(f"DROP TABLE IF EXISTS {partitions.partition_name(table, day.day)}")
    conn.close()
    lock = threading.Lock()

    def work(days_of_worker: list[Day]) -> None:
        session = psycopg2.connect(dsn)
        session.autocommit = False
        with session.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '256MB'")
            cursor.execute("SET max_parallel_maintenance_workers = 0")
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        session.commit()
        if share is not None:
            share.add(pid)
        try:
            for day in days_of_worker:
                _build_day(session, day, context, lock)
        finally:
            if share is not None:
                share.retire(pid)
            session.close()

    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(work, days[i::workers]) for i in range(workers)]:
            future.result()
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cursor:
        # Ids are computed from the run's (steps: 10 per run; invocations and edges: 2 per run).
        for table, last in (("monitoring_run", runs), ("monitoring_step", runs * SPANS_PER_RUN),
                            ("monitoring_invocation", 2 * runs + 1), ("monitoring_interactionedge", 2 * runs + 1)):
            cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", [table, last])
        for table in TABLES:
            cursor.execute(f"ANALYZE {table}")
    conn.close()
    services.ensure_partitions()
    return days
