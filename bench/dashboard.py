"""Dashboard benchmark: load N spans, build rollups, time the dashboards and the pages that read runs.

    .venv/bin/python bench/dashboard.py [--spans 10000000] [--requests 20] [--database agentops_bench]

Runs against its own database (created and migrated if missing; its telemetry is replaced on every
run), so it never touches development data. Spans are generated inside PostgreSQL with
generate_series (10 spans per run, 50 agents, 30 days; failed and escalated runs in 40 failure
groups; agent-map edges to a tool for every run and to another agent for one in three), rollups
are built with the bulk rebuild path, then each page x range is requested through Django's test
client and p50/p95 server times printed: the overview and agent dashboards (rollups), then the
pages that read runs directly (run explorer, prompt-version compare, root causes, agent map;
``--no-direct`` skips them), then the dashboards again with the settled-summary cache emptied
before every request (the cost of the first poll after an hour/day boundary or after late data),
then the exact-vs-sketch percentile error. ``--skip-load`` reuses the telemetry already in the
database (rollups are still rebuilt). It prints bytes per span on disk (all tables with their
partitions, TOAST and indexes, and per table). ``--retention`` finally drops the oldest day as the
retention task does and prints how long that took. The last line is the summary: the worst warm p95
over every page timed (rollup dashboards and the pages that read runs), and the percentile error:
``dashboard: worst p95 <X> ms (<page> <range>; ...), percentile error <E>%``.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

SPANS_PER_RUN = 10
AGENTS = 50
DAYS = 30
RANGES = ("24h", "7d", "30d")
# Pages that read runs (not rollups): page -> (url, {label: query}). The run explorer pages through
# the newest runs (all, one agent's, the errors); the insight pages take the same ranges as the dashboards.
_RANGES = {key: {"range": key} for key in RANGES}
DIRECT_PAGES = {
    "runs": ("/monitoring/runs/", {"newest": {}, "agent": {"agent": "bench-agent-07"}, "errors": {"status": "error"}}),
    "compare": ("/monitoring/agents/bench-agent-07/compare/", _RANGES),
    "causes": ("/monitoring/root-causes/", _RANGES),
    "map": ("/monitoring/map/", _RANGES),
}


def _setup_django(database: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    base = os.environ.get("BENCH_DATABASE_SERVER", "postgres://postgres@127.0.0.1:5432")
    os.environ["DATABASE_URL"] = f"{base}/{database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")
    # Pages render through the test client with the plain static storage (no collectstatic manifest).
    os.environ.setdefault("DEBUG", "1")
    _create_database(base, database)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _create_database(base: str, database: str) -> None:
    import psycopg2

    conn = psycopg2.connect(f"{base}/postgres")
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{database}"')
    conn.close()


def _agents() -> list[int]:
    from agentops.models import Agent, Department

    department, _ = Department.objects.get_or_create(name="Bench")
    ids = []
    for i in range(AGENTS):
        agent, _ = Agent.objects.get_or_create(
            slug=f"bench-agent-{i:02d}",
            defaults={"name": f"Bench agent {i:02d}", "department": department, "lifecycle_stage": "scale",
                      "slo_p95_latency_ms": 6000, "slo_min_success_rate": 95, "slo_min_quality": "0.7",
                      "slo_max_cost_per_run": "0.05"},
        )
        ids.append(agent.id)
    return ids


# Runs: lognormal latency (Box-Muller), 5 % errors, 3 % escalations (each in one of 40 failure groups),
# a quality score on 60 % of runs.
_RUNS_SQL = """
INSERT INTO monitoring_run (trace_id, agent_id, root_span_id, name, session_id, started_at, ended_at, duration_ms,
    status, error_type, model, prompt_version, step_count, input_tokens, output_tokens, cost, quality_score,
    has_escalation, fingerprint, input_preview, output_preview, ingested_at)
SELECT md5(g::text), a.ids[1 + (g %% array_length(a.ids, 1))], substr(md5(g::text), 1, 16), 'invoke_agent',
       'session-' || (g / 7), s.started_at, s.started_at + make_interval(secs => s.d / 1000), s.d,
       CASE WHEN s.r < 0.05 THEN 'error' ELSE 'ok' END, CASE WHEN s.r < 0.05 THEN 'ToolTimeout' ELSE '' END,
       'gpt-4o-mini', 'v' || (1 + g %% 3), %(steps)s, 800 + g %% 400, 150 + g %% 90,
       round((0.0002 + (g %% 100) / 10000.0)::numeric, 6),
       CASE WHEN g %% 5 < 3 THEN round((0.5 + random() / 2)::numeric, 3)::float END, s.r > 0.97,
       CASE WHEN s.r < 0.05 OR s.r > 0.97 THEN rpad(md5('group ' || (g %% 40)), 40, '0') ELSE '' END,
       '', '', now()
FROM generate_series(1, %(runs)s) g
CROSS JOIN (SELECT %(agents)s::bigint[] AS ids) a
CROSS JOIN LATERAL (
    SELECT now() - random() * make_interval(days => %(days)s) AS started_at,
           exp(7.3 + 0.7 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())) AS d,
           random() AS r, g AS k
) s
"""
# Steps: a root agent span and 9 children (llm and tool calls) per run.
_STEPS_SQL = """
INSERT INTO monitoring_step (run_id, trace_id, span_id, parent_span_id, agent_id, declared_agent, name, kind,
    operation, model, tool_name, started_at, ended_at, duration_ms, status, error_type, error_message,
    input_tokens, output_tokens, cost, input, output, attributes, events)
SELECT r.id, r.trace_id, CASE WHEN i = 0 THEN r.root_span_id ELSE substr(md5(r.trace_id || i), 1, 16) END,
       CASE WHEN i = 0 THEN '' ELSE r.root_span_id END, r.agent_id, i = 0,
       CASE WHEN i = 0 THEN 'invoke_agent' WHEN i %% 2 = 1 THEN 'chat gpt-4o-mini' ELSE 'execute_tool lookup' END,
       CASE WHEN i = 0 THEN 'agent' WHEN i %% 2 = 1 THEN 'llm' ELSE 'tool' END, '', '', '',
       r.started_at, r.ended_at, r.duration_ms / greatest(i, 1), 'ok', '', '', 0, 0, 0, '', '', '{}', '[]'
FROM monitoring_run r CROSS JOIN generate_series(0, %(per_run)s - 1) i
"""

# Agent-map edges: every run calls a tool; one run in three also invokes the next agent.
_EDGES_SQL = """
INSERT INTO monitoring_interactionedge (run_id, started_at, department_id, source_id, target_kind, target_agent_id,
    target_name, calls, errors, total_ms, cost)
SELECT r.id, r.started_at, a.department_id, r.agent_id, 'tool', NULL, 'lookup', 4, 0, r.duration_ms / 2, 0
FROM monitoring_run r JOIN agentops_agent a ON a.id = r.agent_id
UNION ALL
SELECT r.id, r.started_at, a.department_id, r.agent_id, 'agent', t.id, t.slug, 1,
       CASE WHEN r.status = 'error' THEN 1 ELSE 0 END, r.duration_ms / 3, r.cost / 2
FROM monitoring_run r JOIN agentops_agent a ON a.id = r.agent_id
JOIN agentops_agent t ON t.slug = 'bench-agent-' || lpad(((substr(a.slug, 13)::int + 1) %% %(agents)s)::text, 2, '0')
WHERE r.id %% 3 = 0
"""

# Invocations: every run's top invocation; in the runs that invoke the next agent (as in _EDGES_SQL) a
# nested invocation of that agent takes a third of the run's time and half its tokens and cost.
_INVOCATIONS_SQL = """
WITH src AS (
    SELECT r.*, t.id AS sub_id, round(r.cost / 2, 6) AS sub_cost
    FROM monitoring_run r JOIN agentops_agent a ON a.id = r.agent_id
    LEFT JOIN agentops_agent t ON r.id %% 3 = 0
        AND t.slug = 'bench-agent-' || lpad(((substr(a.slug, 13)::int + 1) %% %(agents)s)::text, 2, '0')
    WHERE {where}
)
INSERT INTO monitoring_invocation (run_id, trace_id, span_id, parent_span_id, agent_id, caller_agent_id, name,
    started_at, ended_at, duration_ms, status, error_type, model, prompt_version, prompt_id, step_count,
    input_tokens, output_tokens, cost, total_input_tokens, total_output_tokens, total_cost, quality_score, escalations)
SELECT id, trace_id, root_span_id, '', agent_id, NULL, name, started_at, ended_at, duration_ms, status, error_type,
       model, prompt_version, NULL, step_count - CASE WHEN sub_id IS NULL THEN 0 ELSE 3 END,
       input_tokens - CASE WHEN sub_id IS NULL THEN 0 ELSE input_tokens / 2 END,
       output_tokens - CASE WHEN sub_id IS NULL THEN 0 ELSE output_tokens / 2 END,
       cost - CASE WHEN sub_id IS NULL THEN 0 ELSE sub_cost END, input_tokens, output_tokens, cost, quality_score,
       has_escalation::int
FROM src
UNION ALL
SELECT id, trace_id, substr(md5(trace_id || 5), 1, 16), root_span_id, sub_id, agent_id, 'invoke_agent',
       started_at + make_interval(secs => duration_ms / 3000), started_at + make_interval(secs => duration_ms / 1500),
       duration_ms / 3, status, error_type, model, prompt_version, NULL, 3, input_tokens / 2, output_tokens / 2,
       sub_cost, input_tokens / 2, output_tokens / 2, sub_cost, NULL, 0
FROM src WHERE sub_id IS NOT NULL
"""


def prepare_partitions(days: int = DAYS) -> None:
    """Day partitions for the loaded range (as the beat task would have made them, day by day)."""
    from datetime import timedelta

    from django.db import connection, transaction
    from django.utils import timezone

    from monitoring.storage import partitions, services

    today = timezone.now().date()
    with transaction.atomic(), connection.cursor() as cursor:
        for offset in range(days + 1):
            for table in partitions.PARTITIONED:
                partitions.create_day(cursor, table, today - timedelta(days=offset))
    services.ensure_partitions()


def load(spans: int) -> tuple[int, float]:
    from django.db import connection, transaction

    runs = max(1, spans // SPANS_PER_RUN)
    agent_ids = _agents()
    prepare_partitions()
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute("TRUNCATE monitoring_rollupcell, monitoring_escalation, monitoring_score, monitoring_step, "
                       "monitoring_interactionedge, monitoring_run CASCADE")
        cursor.execute(_RUNS_SQL, {"runs": runs, "agents": agent_ids, "days": DAYS, "steps": SPANS_PER_RUN})
        cursor.execute(_STEPS_SQL, {"per_run": SPANS_PER_RUN})
        cursor.execute(_EDGES_SQL, {"agents": AGENTS})
        cursor.execute(_INVOCATIONS_SQL.replace("{where}", "true"), {"agents": AGENTS})
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE monitoring_invocation")
        cursor.execute("ANALYZE monitoring_run")
        cursor.execute("ANALYZE monitoring_step")
        cursor.execute("ANALYZE monitoring_interactionedge")
    return runs, time.perf_counter() - started


STORAGE_TABLES = ("monitoring_step", "monitoring_run", "monitoring_interactionedge", "monitoring_score",
                  "monitoring_escalation", "monitoring_rollupcell")


def bytes_per_span() -> tuple[int, dict[str, float]]:
    """Spans stored, and bytes on disk per span of each table (all partitions, TOAST and indexes)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM monitoring_step")
        spans = cursor.fetchone()[0]
        sizes = {}
        for table in STORAGE_TABLES:
            cursor.execute("SELECT coalesce(sum(pg_total_relation_size(relid)), 0) FROM pg_partition_tree(%s)", [table])
            sizes[table] = cursor.fetchone()[0] / max(spans, 1)
    return spans, sizes


def time_retention() -> tuple[float, int]:
    """Drop the oldest loaded day the way the hourly task does (retention moved to end just after
    it); returns the seconds the drop took and the partitions dropped."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from monitoring.storage import partitions, services

    oldest = timezone.now().date() - timedelta(days=DAYS)
    now = partitions.day_start(oldest + timedelta(days=settings.TELEMETRY_RETENTION_DAYS + 1))
    result = services.drop_expired(now)
    return result.seconds, sum(len(names) for names in result.dropped.values())


def build_rollups() -> float:
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from monitoring.rollups import cells as rollups

    started = time.perf_counter()
    now = timezone.now()
    rollups.rebuild(now - timedelta(days=DAYS + 1), now)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE monitoring_rollupcell")
    return time.perf_counter() - started


def _client():
    from django.contrib.auth.models import User
    from django.test import Client

    user, _ = User.objects.get_or_create(username="bench", defaults={"is_superuser": True, "is_staff": True})
    client = Client()
    client.force_login(user)
    return client


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def time_pages(requests: int, cold: bool = False) -> list[tuple[str, str, float, float]]:
    """The rollup dashboards (overview, agent page) per range; ``cold`` empties the settled cache first."""
    pages = {"overview": "/monitoring/", "agent": "/monitoring/agents/bench-agent-07/"}
    return _time({page: (url, {key: {"range": key} for key in RANGES}) for page, url in pages.items()}, requests, cold)


def _time(pages: dict[str, tuple[str, dict[str, dict]]], requests: int, cold: bool = False,
          ) -> list[tuple[str, str, float, float]]:
    from monitoring.rollups import cells as rollups

    client = _client()
    results = []
    for page, (url, queries) in pages.items():
        for label, params in queries.items():
            client.get(url, params)  # warm caches (templates, plans) like a running server
            timings = []
            for _ in range(requests):
                if cold:
                    rollups.bump_settled_generation()
                started = time.perf_counter()
                response = client.get(url, params)
                timings.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"{url}?{params} answered {response.status_code}")
            results.append((page, label, statistics.median(timings), _percentile(timings, 0.95)))
    return results


def percentile_error() -> float:
    """Worst relative error of p50/p95/p99 from merged rollup sketches against exact values, 30 days."""
    from django.db import connection
    from django.utils import timezone

    from monitoring import timerange
    from monitoring.rollups import queries as rollup_queries
    from monitoring.rollups import sketch
    from monitoring.rollups.cells import truncate

    time_range = timerange.parse_range({"range": "30d"})
    tier = rollup_queries.aggregate_tier(time_range)
    start = truncate(time_range.start, tier)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM agentops_agent WHERE slug LIKE 'bench-agent-%%' ORDER BY slug LIMIT 5")
        agent_ids = [row[0] for row in cursor.fetchall()]
    current, _ = rollup_queries.summaries(time_range, agent_ids, with_previous=False)
    worst = 0.0
    for agent_id in agent_ids:
        with connection.cursor() as cursor:
            cursor.execute("SELECT duration_ms FROM monitoring_run WHERE agent_id = %s AND started_at >= %s "
                           "AND started_at < %s", [agent_id, start, timezone.now()])
            durations = [row[0] for row in cursor.fetchall()]
        for q, estimate in zip((0.5, 0.95, 0.99), current[agent_id].percentiles, strict=True):
            exact = sketch.exact_quantile(durations, q)
            worst = max(worst, abs(estimate - exact) / exact)
    return worst * 100


_INGEST_FIRST = 10**9  # series numbers of the runs ingest_to_visible adds


def _trace_id(g: int) -> str:
    import hashlib

    return hashlib.md5(str(g).encode(), usedforsecurity=False).hexdigest()  # md5(g::text) in _RUNS_SQL


def ingest_to_visible() -> float:
    """Seconds from new runs committed to the overview showing them: refresh + one overview render."""
    from django.db import connection, transaction

    from monitoring.rollups import cells as rollups

    client = _client()
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_RUNS_SQL.replace("generate_series(1, %(runs)s) g", "generate_series(%(first)s, %(last)s) g")
                       .replace("now() - random() * make_interval(days => %(days)s)", "now() - interval '5 seconds'")
                       + " RETURNING id", {"first": _INGEST_FIRST, "last": _INGEST_FIRST + 99, "agents": _bench_agent_ids(),
                                         "steps": SPANS_PER_RUN})
        ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(_INVOCATIONS_SQL.replace("{where}", "r.id = ANY(%(ids)s)"), {"agents": AGENTS, "ids": ids})
        rollups.refresh_for_runs(ids)
    client.get("/monitoring/", {"range": "15m"})
    return time.perf_counter() - started


def _bench_agent_ids() -> list[int]:
    from agentops.models import Agent

    return list(Agent.objects.filter(slug__startswith="bench-agent-").order_by("slug").values_list("id", flat=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=10_000_000, help="spans to load (10 per run)")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per page and range")
    parser.add_argument("--database", default="agentops_bench", help="database to (re)create the data in")
    parser.add_argument("--skip-load", action="store_true", help="keep the telemetry already in the database")
    parser.add_argument("--no-direct", action="store_true", help="skip the pages that read runs directly")
    parser.add_argument("--retention", action="store_true",
                        help="at the end, drop the oldest day as retention would and time it (the data loses a day)")
    args = parser.parse_args()
    _setup_django(args.database)

    if args.skip_load:
        from monitoring.models import Run

        # Drop the runs a previous ingest-to-visible measurement added, so it can add them again.
        Run.objects.filter(trace_id__in=[_trace_id(g) for g in range(_INGEST_FIRST, _INGEST_FIRST + 100)]).delete()
        print(f"kept {Run.objects.count():,} runs already loaded ({AGENTS} agents, {DAYS} days)")
    else:
        runs, load_s = load(args.spans)
        print(f"loaded {runs * SPANS_PER_RUN:,} spans ({runs:,} runs, {AGENTS} agents, {DAYS} days) in {load_s:.1f} s")
    print(f"built rollups in {build_rollups():.1f} s")
    spans, sizes = bytes_per_span()
    print(f"storage: {sum(sizes.values()):.0f} bytes per span ({spans:,} spans; "
          + ", ".join(f"{table.removeprefix('monitoring_')} {size:.0f}" for table, size in sizes.items()) + ")")
    results = time_pages(args.requests)
    for page, key, p50, p95 in results:
        print(f"{page:9s} {key:>4s}: p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")
    if not args.no_direct:
        direct = _time(DIRECT_PAGES, args.requests)
        for page, label, p50, p95 in direct:
            print(f"{page:9s} {label:>6s}: p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  (reads runs directly)")
        results += direct
    for page, key, p50, p95 in time_pages(max(3, args.requests // 4), cold=True):
        print(f"{page:9s} {key:>4s}: p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  (cold: settled cache emptied)")
    print(f"ingest to visible (100-run batch refresh + overview render): {ingest_to_visible() * 1000:.0f} ms "
          f"+ up to one htmx poll period")
    error = percentile_error()
    if args.retention:
        seconds, dropped = time_retention()
        print(f"retention: dropped the oldest day ({dropped} partitions) in {seconds * 1000:.0f} ms")
    worst_page, worst_label, _p50, worst = max(results, key=lambda row: row[3])
    print(f"dashboard: worst p95 {worst:.1f} ms ({worst_page} {worst_label}; every page timed warm), "
          f"percentile error {error:.2f}%")


if __name__ == "__main__":
    main()
