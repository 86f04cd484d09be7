"""The SQL that writes the insight cells (``insight_models``), built from named parts.

Each statement aggregates a *source* of signed rows into the hour and day cells they fall in and
adds the result to the stored cells (upsert; latency sketches merged key by key, zero counts
dropped). The source is either this transaction's changes (``delta_source``: the rows a refresh
removed with sign -1 and the rows it wrote with sign +1, bound as arrays) or the raw table over
a range (``range_source``, a rebuild after the range's cells were deleted). Each statement returns
the ids of the cells left with nothing counted, which the caller deletes.

Parameters are always bound (``%(name)s``); only constant identifiers and expressions are composed.
"""

from __future__ import annotations

from functools import cache

from psycopg2 import sql

from monitoring.rollups import sketch
from monitoring.sqlbuild import compose, identifiers

# Per kind of cell: its table, the source columns with their SQL types (after ``sign``), the key
# columns, the raw table and how its rows map to the source columns.
INVOCATION_FIELDS = (("started_at", "timestamptz"), ("agent_id", "bigint"), ("prompt_id", "bigint"),
                     ("prompt_version", "text"), ("model", "text"), ("status", "text"), ("escalated", "boolean"),
                     ("quality", "float8"), ("cost", "numeric"), ("duration_ms", "float8"), ("fingerprint", "text"),
                     ("caller_agent_id", "bigint"), ("input_tokens", "bigint"), ("output_tokens", "bigint"))
EDGE_FIELDS = (("started_at", "timestamptz"), ("source_id", "bigint"), ("target_kind", "text"),
               ("target_name", "text"), ("target_agent_id", "bigint"), ("department_id", "bigint"),
               ("calls", "bigint"), ("errors", "bigint"), ("total_ms", "float8"), ("cost", "numeric"))

_RAW_INVOCATIONS = ("started_at, agent_id, prompt_id, prompt_version, model, status, escalations > 0, quality_score,"
                    " cost, duration_ms, fingerprint, caller_agent_id, input_tokens, output_tokens")
_RAW_EDGES = "started_at, source_id, target_kind, target_name, target_agent_id, department_id, calls, errors, total_ms, cost"

_TIERS = sql.SQL("CROSS JOIN (VALUES ('h', 'hour'), ('d', 'day')) AS v(tier, unit)")

_MERGE_SKETCH = sql.SQL("(SELECT coalesce(jsonb_object_agg(key, n) FILTER (WHERE n <> 0), '{}'::jsonb) FROM"
                 " (SELECT key, sum(value::bigint) AS n FROM (SELECT * FROM jsonb_each_text(c.latency) UNION ALL"
                 " SELECT * FROM jsonb_each_text(EXCLUDED.latency)) u GROUP BY key) m)")

_VERSION = """
WITH src AS ({source}), t AS (
    SELECT v.tier, date_trunc(v.unit, s.started_at) AS bucket, s.* FROM src s {tiers}
), x AS (
    SELECT tier, bucket, agent_id, prompt_id, prompt_version, model, caller_agent_id, {latency_key} AS skey,
           sum(sign) AS n,
           coalesce(sum(sign) FILTER (WHERE status = 'error'), 0) AS errors,
           coalesce(sum(sign) FILTER (WHERE escalated), 0) AS escalations,
           coalesce(sum(sign * round(quality::numeric, 6)), 0) AS q_sum,
           coalesce(sum(sign * round(quality::numeric, 6) * round(quality::numeric, 6)), 0) AS q_sq,
           coalesce(sum(sign) FILTER (WHERE quality IS NOT NULL), 0) AS q_n, coalesce(sum(sign * cost), 0) AS cost,
           coalesce(sum(sign * input_tokens), 0) AS input_tokens, coalesce(sum(sign * output_tokens), 0) AS output_tokens
    FROM t GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
)
INSERT INTO monitoring_versioncell AS c (tier, bucket, agent_id, prompt_id, prompt_version, model, caller_agent_id,
    runs, errors, escalations, quality_sum, quality_sumsq, quality_count, cost, input_tokens, output_tokens, latency)
SELECT tier, bucket, agent_id, prompt_id, prompt_version, model, caller_agent_id, sum(n), sum(errors),
       sum(escalations), sum(q_sum), sum(q_sq), sum(q_n), sum(cost), sum(input_tokens), sum(output_tokens),
       coalesce(jsonb_object_agg(skey, n) FILTER (WHERE n <> 0), '{{}}'::jsonb)
FROM x GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 3, 2, 4, 5, 6, 7
ON CONFLICT (tier, agent_id, bucket, prompt_id, prompt_version, model, caller_agent_id) DO UPDATE SET
    runs = c.runs + EXCLUDED.runs, errors = c.errors + EXCLUDED.errors,
    escalations = c.escalations + EXCLUDED.escalations, quality_sum = c.quality_sum + EXCLUDED.quality_sum,
    quality_sumsq = c.quality_sumsq + EXCLUDED.quality_sumsq,
    quality_count = c.quality_count + EXCLUDED.quality_count, cost = c.cost + EXCLUDED.cost,
    input_tokens = c.input_tokens + EXCLUDED.input_tokens, output_tokens = c.output_tokens + EXCLUDED.output_tokens,
    latency = {merge_sketch}
RETURNING id, runs"""

_FAILURE = """
WITH src AS ({source}), t AS (
    SELECT v.tier, date_trunc(v.unit, s.started_at) AS bucket, s.* FROM src s {tiers}
    WHERE s.fingerprint <> ''
)
INSERT INTO monitoring_failurecell AS c (tier, bucket, fingerprint, agent_id, prompt_id, prompt_version, model, runs,
    errors, escalations)
SELECT tier, bucket, fingerprint, agent_id, prompt_id, prompt_version, model, sum(sign),
       coalesce(sum(sign) FILTER (WHERE status = 'error'), 0), coalesce(sum(sign) FILTER (WHERE escalated), 0)
FROM t GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7
ON CONFLICT (tier, bucket, fingerprint, agent_id, prompt_id, prompt_version, model) DO UPDATE SET
    runs = c.runs + EXCLUDED.runs, errors = c.errors + EXCLUDED.errors,
    escalations = c.escalations + EXCLUDED.escalations
RETURNING id, runs"""

_EDGE = """
WITH src AS ({source}), t AS (
    SELECT v.tier, date_trunc(v.unit, s.started_at) AS bucket, s.* FROM src s {tiers}
), x AS (
    SELECT tier, bucket, source_id, target_kind, target_name, target_agent_id, department_id,
           CASE WHEN target_kind = 'human' OR calls <= 0 THEN NULL ELSE {latency_key} END AS skey, sum(sign) AS n,
           coalesce(sum(sign * calls), 0) AS calls, coalesce(sum(sign * errors), 0) AS errors,
           coalesce(sum(sign * round(total_ms::numeric, 3)), 0) AS total_ms, coalesce(sum(sign * cost), 0) AS cost
    FROM t GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
)
INSERT INTO monitoring_edgecell AS c (tier, bucket, source_id, target_kind, target_name, target_agent_id,
    department_id, rows, calls, errors, total_ms, cost, latency)
SELECT tier, bucket, source_id, target_kind, target_name, target_agent_id, department_id, sum(n), sum(calls),
       sum(errors), sum(total_ms), sum(cost),
       coalesce(jsonb_object_agg(skey, n) FILTER (WHERE n <> 0 AND skey IS NOT NULL), '{{}}'::jsonb)
FROM x GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7
ON CONFLICT (tier, bucket, source_id, target_kind, target_name, target_agent_id, department_id) DO UPDATE SET
    rows = c.rows + EXCLUDED.rows, calls = c.calls + EXCLUDED.calls, errors = c.errors + EXCLUDED.errors,
    total_ms = c.total_ms + EXCLUDED.total_ms, cost = c.cost + EXCLUDED.cost,
    latency = {merge_sketch}
RETURNING id, rows"""


def delta_source(fields: tuple[tuple[str, str], ...]) -> sql.Composed:
    """Signed rows bound as one array per column: ``%(sign)s`` and ``%(<field>)s``."""
    arrays = sql.SQL(", ").join(
        [sql.SQL("%(sign)s::int[]")]
        + [sql.SQL(f"%({name})s::{sql_type}[]") for name, sql_type in fields])
    return compose("SELECT * FROM unnest({arrays}) AS s({names})", arrays=arrays,
                   names=identifiers(["sign", *(name for name, _ in fields)]))


def range_source(raw_columns: str, table: str, names: tuple[tuple[str, str], ...]) -> sql.Composed:
    """The raw table's rows started in ``[%(start)s, %(end)s)``, each with sign 1."""
    return compose("SELECT 1 AS sign, {columns} FROM {table} WHERE started_at >= %(start)s AND started_at < %(end)s",
                   columns=sql.SQL(", ").join(sql.SQL(f"{expression} AS {{}}").format(sql.Identifier(name))
                                              for expression, (name, _) in zip(_split(raw_columns), names, strict=True)),
                   table=sql.Identifier(table))


def _split(columns: str) -> list[str]:
    return [c.strip() for c in columns.split(",")]


@cache
def version_cells(rebuild: bool = False) -> sql.Composed:
    source = (range_source(_RAW_INVOCATIONS, "monitoring_invocation", INVOCATION_FIELDS) if rebuild
              else delta_source(INVOCATION_FIELDS))
    return compose(_VERSION, source=source, tiers=_TIERS, merge_sketch=_MERGE_SKETCH, latency_key=sql.SQL(sketch.sql_bucket_expression("duration_ms")))


@cache
def failure_cells(rebuild: bool = False) -> sql.Composed:
    source = (range_source(_RAW_INVOCATIONS, "monitoring_invocation", INVOCATION_FIELDS) if rebuild
              else delta_source(INVOCATION_FIELDS))
    return compose(_FAILURE, source=source, tiers=_TIERS)


@cache
def edge_cells(rebuild: bool = False) -> sql.Composed:
    source = (range_source(_RAW_EDGES, "monitoring_interactionedge", EDGE_FIELDS) if rebuild
              else delta_source(EDGE_FIELDS))
    return compose(_EDGE, source=source, tiers=_TIERS, merge_sketch=_MERGE_SKETCH,
                   latency_key=sql.SQL(sketch.sql_bucket_expression("(total_ms / calls)")))
