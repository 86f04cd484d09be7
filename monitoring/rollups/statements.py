"""The SQL that writes rollup cells, built from named parts (``monitoring.sqlbuild.compose``).

Every statement computes one row per key (agent or fleet, bucket) in CTEs ``keys`` -> ``src`` ->
``lat``/``errs``/``totals``, then inserts it; what differs is where ``src`` comes from and what a
conflict with a stored cell does:

Agent cells count the agent's **invocations** (``monitoring_invocation``: its own runs, nested ones
included); fleet cells (agent NULL) count **runs** (traces: one customer task once), see
docs/metrics.md.

- ``cells_from_invocations()`` / ``fleet_cells_from_runs()``: the cell recomputed from the rows of
  its bucket; replaces the stored cell.
- ``cells_added_from_new_invocations()`` / ``fleet_cells_added_from_new_runs()``: the same figures
  over the rows of runs created by the current transaction only (``%(new)s``), *added* to the stored
  cell. Every figure is a sum of per-row terms (counts, rounded numerics, sketch bucket counts), so
  adding the new rows' terms gives exactly the recomputed cell without re-reading those counted.
- ``cells_merged_from_finer()`` / ``fleet_cells_merged_from_finer()``: merged from stored cells (an
  hour from its minutes); replaces the stored cell.

Parameters (bound, never composed in): ``agents``, ``buckets`` (the keys, in pairs), ``tier``,
``span`` (the bucket's length), ``src_tier`` (merges), ``new`` (run ids, additions) with ``lo`` and ``hi``
(where those runs lie: their earliest start and latest end).
"""

from __future__ import annotations

from functools import cache

from psycopg2 import sql

from monitoring.rollups import sketch
from monitoring.sqlbuild import compose, identifiers

CELL_TABLE = sql.Identifier("monitoring_rollupcell")
RUN_TABLE = sql.Identifier("monitoring_run")
INVOCATION_TABLE = sql.Identifier("monitoring_invocation")
# Additive figures, then the two count sketches (jsonb: bucket key -> count).
FIGURES = ("runs", "errors", "escalations", "quality_sum", "quality_count", "cost", "input_tokens",
           "output_tokens", "latency_sum_ms")
SKETCHES = ("latency", "error_types")
CELL_COLUMNS = ("tier", "bucket", "agent_id", *FIGURES, *SKETCHES, "updated_at")

# Sums saturate at their column's largest value instead of failing the transaction (a cell shared by
# every agent must never stop other agents' ingest): bigint tokens, numeric(18, 6) cost and quality
# sum, numeric(20, 3) latency sum. Spans are clamped at the normaliser, so only hostile or absurd
# traffic reaches these. Constants only (no input), written into the statements as numbers.
CEILINGS = {"quality_sum": "999999999999.999999", "cost": "999999999999.999999",
            "input_tokens": "9223372036854775807", "output_tokens": "9223372036854775807",
            "latency_sum_ms": "99999999999999999.999"}

_KEYS = sql.SQL(
    "keys AS (SELECT * FROM unnest(%(agents)s::bigint[], %(buckets)s::timestamptz[])"
    " WITH ORDINALITY AS k(agent_id, bucket, idx))"
)

# The end of every cell statement: one row per key from the CTEs totals, lat and errs.
_INSERT_CELLS = compose(
    """INSERT INTO {table} ({columns})
SELECT %(tier)s, t.bucket, t.agent_id, {totals}, coalesce(l.latency, '{{}}'::jsonb),
       coalesce(e.error_types, '{{}}'::jsonb), now()
FROM totals t LEFT JOIN lat l ON l.idx = t.idx LEFT JOIN errs e ON e.idx = t.idx
""",
    table=CELL_TABLE, columns=identifiers(CELL_COLUMNS),
    totals=sql.SQL(", ").join(sql.SQL("t.") + sql.Identifier(c) for c in FIGURES),
)


def by_run_id(table: str, run_column: str, ids: str, columns: tuple[str, ...] | None = None) -> sql.Composed:
    """``SELECT`` the ``columns`` (all: None) of ``table``'s rows whose ``run_column`` is in the bound
    parameter ``ids`` and that started within ``lo``..``hi``.

    Looked up one run id at a time (the subquery, fenced by OFFSET 0, runs per id: an equality on the
    run-id index each time); bounded by time, only the day partitions holding those runs are read.
    Written as ``run_id = ANY(<ids>)`` instead, a day partition without statistics yet (its first
    minute, a fresh database) makes the planner take the ids for most of the table and walk each
    agent's whole (agent, time) range: measured 30-120 ms against 4."""
    return compose(
        "SELECT x.* FROM unnest({ids}::bigint[]) AS n(id) CROSS JOIN LATERAL (SELECT {columns} FROM {table}"
        " WHERE {run} = n.id AND started_at >= %(lo)s AND started_at <= %(hi)s OFFSET 0) x",
        ids=sql.Placeholder(ids), columns=identifiers(columns) if columns else sql.SQL("*"),
        table=sql.Identifier(table), run=sql.Identifier(run_column),
    )


# The rows of each key's bucket: the agent's invocations started within it; for the fleet, every run.
ROWS_OF_KEY = sql.SQL("r.agent_id = k.agent_id AND r.started_at >= k.bucket AND r.started_at < k.bucket + %(span)s")
FLEET_ROWS_OF_KEY = sql.SQL("r.started_at >= k.bucket AND r.started_at < k.bucket + %(span)s")
# ... of those, only the rows of runs created by the current transaction, looked up run by run
# (``by_run_id``) within ``lo``..``hi`` (where those runs lie), then joined to the keys.
NEW_INVOCATIONS = compose("new_rows AS MATERIALIZED ({rows})", rows=by_run_id("monitoring_invocation", "run_id", "new"))
NEW_RUNS = compose("new_rows AS MATERIALIZED ({rows})", rows=by_run_id("monitoring_run", "id", "new"))
NEW_ROWS_TABLE = sql.Identifier("new_rows")
# Source cells of a coarser cell: its finer tier's cells inside its bucket (the agent's, or the fleet's).
FINER_CELLS_OF_KEY = sql.SQL(
    "c.tier = %(src_tier)s AND c.agent_id = k.agent_id AND c.bucket >= k.bucket AND c.bucket < k.bucket + %(span)s"
)
FINER_FLEET_CELLS_OF_KEY = sql.SQL(
    "c.tier = %(src_tier)s AND c.agent_id IS NULL AND c.bucket >= k.bucket AND c.bucket < k.bucket + %(span)s"
)
# Whether a source row counts as escalated: a run's flag, an invocation's own escalations.
RUN_ESCALATED = sql.SQL("r.has_escalation")
INVOCATION_ESCALATED = sql.SQL("r.escalations > 0")

_FROM_RUNS = """
WITH {keys}{rows}, src AS (
    SELECT k.idx, r.status, r.error_type, {escalated} AS has_escalation, r.quality_score, r.cost, r.input_tokens,
           r.output_tokens, r.duration_ms
    FROM keys k JOIN {runs} r ON {runs_of_key}
), lat AS (
    SELECT idx, jsonb_object_agg(key, n) AS latency FROM (
        SELECT idx, {latency_key} AS key, count(*) AS n FROM src GROUP BY 1, 2
    ) x GROUP BY idx
), errs AS (
    SELECT idx, jsonb_object_agg(key, n) AS error_types FROM (
        SELECT idx, coalesce(nullif(error_type, ''), 'unknown') AS key, count(*) AS n
        FROM src WHERE status = 'error' GROUP BY 1, 2
    ) x GROUP BY idx
), totals AS (
    SELECT k.idx, k.agent_id, k.bucket, count(s.idx) AS runs,
           count(s.idx) FILTER (WHERE s.status = 'error') AS errors,
           count(s.idx) FILTER (WHERE s.has_escalation) AS escalations,
           coalesce(sum(round(s.quality_score::numeric, 6)), 0) AS quality_sum, count(s.quality_score) AS quality_count,
           least(coalesce(sum(s.cost), 0), 999999999999.999999) AS cost,
           least(coalesce(sum(s.input_tokens), 0), 9223372036854775807) AS input_tokens,
           least(coalesce(sum(s.output_tokens), 0), 9223372036854775807) AS output_tokens,
           least(coalesce(sum(round(s.duration_ms::numeric, 3)), 0), 99999999999999999.999) AS latency_sum_ms
    FROM keys k LEFT JOIN src s ON s.idx = k.idx GROUP BY k.idx, k.agent_id, k.bucket
)
{insert}{on_conflict}"""

_MERGED = """
WITH {keys}, src AS (
    SELECT k.idx, c.* FROM keys k JOIN {cells} c ON {cells_of_key}
), lat AS (
    SELECT idx, jsonb_object_agg(key, n) AS latency FROM (
        SELECT s.idx, e.key, sum(e.value::bigint) AS n FROM src s, jsonb_each_text(s.latency) e GROUP BY 1, 2
    ) x GROUP BY idx
), errs AS (
    SELECT idx, jsonb_object_agg(key, n) AS error_types FROM (
        SELECT s.idx, e.key, sum(e.value::bigint) AS n FROM src s, jsonb_each_text(s.error_types) e GROUP BY 1, 2
    ) x GROUP BY idx
), totals AS (
    SELECT k.idx, k.agent_id, k.bucket, {sums}
    FROM keys k LEFT JOIN src s ON s.idx = k.idx GROUP BY k.idx, k.agent_id, k.bucket
)
{insert}{on_conflict}"""


def _on_conflict(*, fleet: bool, add: bool) -> sql.Composed:
    """Upsert on the agent cells' or the fleet cells' unique index: replace the stored figures, or
    add to them (sketches merged key by key)."""
    target = (sql.SQL("(tier, bucket) WHERE agent_id IS NULL") if fleet
              else sql.SQL("(tier, agent_id, bucket) WHERE agent_id IS NOT NULL"))
    if add:
        assignments = [
            compose("{c} = least({table}.{c}::numeric + EXCLUDED.{c}, {top})", c=sql.Identifier(c), table=CELL_TABLE,
                    top=sql.SQL(CEILINGS[c]))
            if c in CEILINGS else compose("{c} = {table}.{c} + EXCLUDED.{c}", c=sql.Identifier(c), table=CELL_TABLE)
            for c in FIGURES]
        assignments += [compose(
            "{c} = (SELECT coalesce(jsonb_object_agg(key, n), '{{}}'::jsonb) FROM (SELECT key, sum(value::bigint) AS n"
            " FROM (SELECT * FROM jsonb_each_text({table}.{c}) UNION ALL SELECT * FROM jsonb_each_text(EXCLUDED.{c})) u"
            " GROUP BY key) m)", c=sql.Identifier(c), table=CELL_TABLE) for c in SKETCHES]
    else:
        assignments = [compose("{c} = EXCLUDED.{c}", c=sql.Identifier(c)) for c in (*FIGURES, *SKETCHES)]
    assignments.append(sql.SQL("updated_at = EXCLUDED.updated_at"))
    return compose("ON CONFLICT {target} DO UPDATE SET {assignments}", target=target,
                   assignments=sql.SQL(", ").join(assignments))


def _from_rows(table: sql.Identifier, rows_of_key: sql.Composable, *, fleet: bool, add: bool) -> sql.Composed:
    """Cells from ``table``'s rows of each key; with ``add``, from the new runs' rows only."""
    rows = sql.SQL(", ") + (NEW_RUNS if table == RUN_TABLE else NEW_INVOCATIONS) if add else sql.SQL("")
    return compose(_FROM_RUNS, keys=_KEYS, rows=rows, runs=NEW_ROWS_TABLE if add else table, runs_of_key=rows_of_key,
                   escalated=RUN_ESCALATED if table == RUN_TABLE else INVOCATION_ESCALATED,
                   latency_key=sql.SQL(sketch.sql_bucket_expression("duration_ms")), insert=_INSERT_CELLS,
                   on_conflict=_on_conflict(fleet=fleet, add=add))


def _merged(cells_of_key: sql.Composable, *, fleet: bool) -> sql.Composed:
    sums = sql.SQL(", ").join(
        compose("least(coalesce(sum(s.{c}), 0), {top}) AS {c}", c=sql.Identifier(c), top=sql.SQL(CEILINGS[c]))
        if c in CEILINGS else compose("coalesce(sum(s.{c}), 0) AS {c}", c=sql.Identifier(c)) for c in FIGURES)
    return compose(_MERGED, keys=_KEYS, cells=CELL_TABLE, cells_of_key=cells_of_key, sums=sums,
                   insert=_INSERT_CELLS, on_conflict=_on_conflict(fleet=fleet, add=False))


@cache
def cells_from_invocations() -> sql.Composed:
    """Agent cells of tier ``tier`` recomputed from the agent's invocations."""
    return _from_rows(INVOCATION_TABLE, ROWS_OF_KEY, fleet=False, add=False)


@cache
def cells_added_from_new_invocations() -> sql.Composed:
    """Agent cells incremented by the invocations of the runs ``new`` (created by the current
    transaction, counted in no cell yet); a key's other invocations are not read."""
    return _from_rows(INVOCATION_TABLE, ROWS_OF_KEY, fleet=False, add=True)


@cache
def fleet_cells_from_runs() -> sql.Composed:
    """Fleet cells of tier ``tier`` recomputed from the runs (traces) of their bucket."""
    return _from_rows(RUN_TABLE, FLEET_ROWS_OF_KEY, fleet=True, add=False)


@cache
def fleet_cells_added_from_new_runs() -> sql.Composed:
    """Fleet cells incremented by the runs ``new`` (created by the current transaction)."""
    return _from_rows(RUN_TABLE, FLEET_ROWS_OF_KEY, fleet=True, add=True)


@cache
def cells_merged_from_finer() -> sql.Composed:
    """Agent cells of tier ``tier`` merged from their ``src_tier`` cells."""
    return _merged(FINER_CELLS_OF_KEY, fleet=False)


@cache
def fleet_cells_merged_from_finer() -> sql.Composed:
    """Fleet cells of tier ``tier`` merged from the fleet's ``src_tier`` cells."""
    return _merged(FINER_FLEET_CELLS_OF_KEY, fleet=True)
