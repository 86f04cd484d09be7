"""Dashboard benchmark: load N spans, build rollups, time the dashboards and the pages that read runs.

    .venv/bin/python bench/dashboard.py [--spans 10000000] [--requests 20] [--database agentops_bench]

Runs against its own database (created and migrated if missing; its telemetry is replaced on every
run), so it never touches development data. Spans are generated inside PostgreSQL a day partition at
a time, indexes built after the rows, in ``--workers`` sessions (bench/dashboard_data.py: 10 spans per
run, 50 agents, 30 days, failed and escalated runs in 40 failure groups, one run in three an
orchestrator with a nested sub-agent invocation); the load time and the host's load and the CPU share
the bench got are printed (``--load-only`` stops there). Rollups are built with the bulk rebuild path, then each page x range is requested through Django's test
client and p50/p95 server times printed: the overview and agent dashboards (rollups), then the
pages that read runs directly (run explorer, prompt-version compare, root causes, agent map;
``--no-direct`` skips them), then the dashboards again with the settled-summary cache emptied
before every request (the cost of the first poll after an hour/day boundary or after late data),
then the exact-vs-sketch percentile error. ``--skip-load`` reuses the telemetry already in the
database (rollups are still rebuilt, unless ``--keep-rollups``); ``--prepare-only`` stops after the load and
the rollups, so a large load can be timed later on a quiet host. After the load and after the rebuild the
tables are vacuumed, as autovacuum keeps them in production (visibility maps set on the days that no
longer change). It prints bytes per span on disk (all tables with their
partitions, TOAST and indexes, per table and per index). ``--retention`` finally opens handoff tickets
on runs of the oldest day, drops that day as the retention task does, prints how long that took and
the tickets and rollup cells before and after. The last line is the summary: the worst warm p95
over every page timed (rollup dashboards and the pages that read runs), and the percentile error:
``dashboard: worst p95 <X> ms (<page> <range>; ...), percentile error <E>%``.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import statistics
import sys
import time
from pathlib import Path

import dashboard_data
from dashboard_data import AGENTS, DAYS, SPANS_PER_RUN
from hostload import HostShare

RANGES = ("24h", "7d", "30d")
# The run explorer and the insight pages: page -> (url, {label: query}), each over the dashboards'
# ranges. The run explorer pages through the newest runs (all, one agent's, the errors) with its capped
# count, an agent's runs page through its newest invocations (all, the errors, those via one caller); the insight pages read their own cells (root causes, one failure group's drill-down, prompt
# version compare, agent map).
_RANGES = {key: {"range": key} for key in RANGES}
_GROUP = hashlib.md5(b"group 0", usedforsecurity=False).hexdigest().ljust(40, "0")  # as dashboard_data makes them
DIRECT_PAGES = {
    "runs": ("/monitoring/runs/", {**_RANGES, "agent30d": {"range": "30d", "agent": "bench-agent-07"},
                                   "err30d": {"range": "30d", "status": "error"}}),
    "agentruns": ("/monitoring/agents/bench-agent-07/runs/", {
        **_RANGES, "err30d": {"range": "30d", "status": "error"}, "via30d": {"range": "30d", "caller": "bench-agent-06"}}),
    "compare": ("/monitoring/agents/bench-agent-07/compare/", _RANGES),
    "causes": ("/monitoring/root-causes/", _RANGES),
    "group": (f"/monitoring/root-causes/{_GROUP}/", _RANGES),
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


def load(spans: int, workers: int) -> tuple[int, float, HostShare]:
    """Replace the telemetry with ``spans`` generated spans (bench/dashboard_data.py); returns the runs,
    the seconds the load took and the host share it got."""
    from django.db import connection

    from agentops.models import Department

    runs = max(1, spans // SPANS_PER_RUN)
    agent_ids = _agents()
    department = Department.objects.get(name="Bench").pk
    dsn = connection.get_connection_params()
    dsn = " ".join(f"{key}={value}" for key, value in dsn.items() if key in ("host", "port", "user", "dbname", "password"))
    with HostShare() as share:
        started = time.perf_counter()
        dashboard_data.load(dsn, runs, agent_ids, department, workers=workers, share=share)
        seconds = time.perf_counter() - started
    return runs, seconds, share


TELEMETRY_TABLES = ("monitoring_run", "monitoring_step", "monitoring_invocation", "monitoring_interactionedge",
                    "monitoring_score", "monitoring_escalation")
CELL_TABLES = ("monitoring_rollupcell", "monitoring_versioncell", "monitoring_failurecell", "monitoring_edgecell")


def vacuum(tables: tuple[str, ...]) -> float:
    """VACUUM (ANALYZE) the tables: the state autovacuum keeps them in (visibility map set on the
    day partitions that no longer change, so index-only scans read no heap; bulk rebuilds' dead cell
    rows reclaimed). Returns the seconds it took."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    return time.perf_counter() - started


STORAGE_TABLES = ("monitoring_step", "monitoring_run", "monitoring_invocation", "monitoring_interactionedge",
                  "monitoring_score", "monitoring_escalation", "monitoring_rollupcell")


def bytes_per_span() -> tuple[int, dict[str, float], dict[str, float]]:
    """Spans stored; bytes on disk per span of each telemetry and rollup table (all partitions, TOAST
    and indexes) and of each of its indexes (all partitions)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM monitoring_step")
        spans = max(cursor.fetchone()[0], 1)
        # Every app's rollups count too (tables named for their cells or rollups, outside partitions).
        cursor.execute("SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') AND NOT relispartition"
                       " AND relnamespace = 'public'::regnamespace AND (relname LIKE '%%rollup%%' OR relname LIKE"
                       " '%%cell%%') ORDER BY relname")
        tables = [*STORAGE_TABLES, *(name for (name,) in cursor.fetchall() if name not in STORAGE_TABLES)]
        sizes, indexes = {}, {}
        for table in tables:
            # pg_partition_tree is empty for a plain table (or index): then its own size.
            cursor.execute("SELECT coalesce((SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree(%s)),"
                           " pg_total_relation_size(%s))", [table, table])
            sizes[table] = cursor.fetchone()[0] / spans
            cursor.execute(
                "SELECT i.indexrelid::regclass::text, coalesce((SELECT sum(pg_relation_size(t.relid))"
                " FROM pg_partition_tree(i.indexrelid) t), pg_relation_size(i.indexrelid)) FROM pg_index i"
                " WHERE i.indrelid = to_regclass(%s)", [table])
            indexes.update((name, size / spans) for name, size in cursor.fetchall())
    return spans, sizes, indexes


def _tickets_on_oldest_day(count: int = 20) -> None:
    """Handoff tickets for escalated runs of the oldest loaded day, made the way ingest makes them (an
    escalation row, then the announcement), so retention has tickets to keep."""
    from datetime import timedelta

    from django.utils import timezone

    from handoffs.models import Queue
    from monitoring.announcements import ESCALATIONS_RECORDED
    from monitoring.ingest.outbox import notify
    from monitoring.models import Escalation, Run
    from monitoring.storage import partitions

    Queue.objects.get_or_create(slug="bench", defaults={"name": "Bench", "is_default": True})
    oldest = timezone.now().date() - timedelta(days=DAYS)
    runs = Run.objects.filter(has_escalation=True, started_at__gte=partitions.day_start(oldest),
                              started_at__lt=partitions.day_start(oldest + timedelta(days=1)))[:count]
    escalations = Escalation.objects.bulk_create(
        Escalation(run=run, agent_id=run.agent_id, trace_id=run.trace_id, span_id=run.root_span_id,
                   reason="bench", summary="retention check", occurred_at=run.ended_at) for run in runs)
    notify(ESCALATIONS_RECORDED, [e.pk for e in escalations])


def _kept() -> tuple[int, int, int]:
    """Tickets, tickets whose context packet is a snapshot, rollup cells."""
    from handoffs.models import Ticket
    from monitoring.models import RollupCell

    return (Ticket.objects.count(), Ticket.objects.exclude(context={}).count(), RollupCell.objects.count())


def time_retention():
    """Drop the oldest loaded day the way the hourly task does (retention moved to end just after
    it), with tickets on that day's runs; returns the task's result (its phases timed), the
    partitions dropped, and (tickets, snapshots, rollup cells) before and after."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from monitoring.storage import partitions, services

    _tickets_on_oldest_day()
    before = _kept()
    oldest = timezone.now().date() - timedelta(days=DAYS)
    now = partitions.day_start(oldest + timedelta(days=settings.TELEMETRY_RETENTION_DAYS + 1))
    result = services.drop_expired(now)
    return result, sum(len(names) for names in result.dropped.values()), before, _kept()


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
            # Agent cells count the agent's invocations (its own runs, nested ones included).
            cursor.execute("SELECT duration_ms FROM monitoring_invocation WHERE agent_id = %s AND started_at >= %s "
                           "AND started_at < %s", [agent_id, start, timezone.now()])
            durations = [row[0] for row in cursor.fetchall()]
        for q, estimate in zip((0.5, 0.95, 0.99), current[agent_id].percentiles, strict=True):
            exact = sketch.exact_quantile(durations, q)
            worst = max(worst, abs(estimate - exact) / exact)
    return worst * 100


_INGEST_FIRST = 10**9  # series numbers of the runs ingest_to_visible adds


def _trace_id(g: int) -> str:
    import hashlib

    return hashlib.md5(str(g).encode(), usedforsecurity=False).hexdigest()  # md5(g::text) in dashboard_data._RUNS


def ingest_to_visible() -> float:
    """Seconds from new runs committed to the overview showing them: refresh + one overview render."""
    from datetime import timedelta

    from django.db import connection, transaction
    from django.utils import timezone

    from monitoring.rollups import cells as rollups

    client = _client()
    started = time.perf_counter()
    moment = timezone.now() - timedelta(seconds=5)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(dashboard_data._RUNS.format(table="monitoring_run", steps=SPANS_PER_RUN) + " RETURNING id",
                       {"first": _INGEST_FIRST, "last": _INGEST_FIRST + 99, "agents": _bench_agent_ids(),
                        "lo": moment, "hi": moment})
        ids = [row[0] for row in cursor.fetchall()]
        runs = "(SELECT * FROM monitoring_run WHERE id = ANY(%(ids)s))"
        cursor.execute(dashboard_data._INVOCATIONS.format(table="monitoring_invocation", runs=runs),
                       {"agents": _bench_agent_ids(), "ids": ids})
        rollups.refresh_for_runs(ids, new_ids=ids)  # new traces, as ingest passes them
    client.get("/monitoring/", {"range": "15m"})
    return time.perf_counter() - started


def _bench_agent_ids() -> list[int]:
    from agentops.models import Agent

    return list(Agent.objects.filter(slug__startswith="bench-agent-").order_by("slug").values_list("id", flat=True))


def _print_storage() -> None:
    spans, sizes, indexes = bytes_per_span()
    print(f"storage: {sum(sizes.values()):.0f} bytes per span ({spans:,} spans; "
          + ", ".join(f"{table.removeprefix('monitoring_')} {size:.0f}" for table, size in sizes.items()) + ")")
    print("  indexes: " + ", ".join(f"{name} {size:.1f}" for name, size in
                                    sorted(indexes.items(), key=lambda item: -item[1]) if size >= 0.05))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=10_000_000, help="spans to load (10 per run)")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per page and range")
    parser.add_argument("--database", default="agentops_bench", help="database to (re)create the data in")
    parser.add_argument("--workers", type=int, default=2, help="database sessions loading days in parallel")
    parser.add_argument("--skip-load", action="store_true", help="keep the telemetry already in the database")
    parser.add_argument("--load-only", action="store_true", help="stop after the load and the storage figures")
    parser.add_argument("--keep-rollups", action="store_true",
                        help="with --skip-load: keep the rollup and insight cells already built (no rebuild)")
    parser.add_argument("--prepare-only", action="store_true",
                        help="stop after the load, the rollups and the storage figures (time pages later with "
                             "--skip-load --keep-rollups)")
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
        runs, load_s, share = load(args.spans, args.workers)
        print(f"loaded {runs * SPANS_PER_RUN:,} spans ({runs:,} runs, {AGENTS} agents, {DAYS} days) in {load_s:.1f} s"
              f" ({args.workers} sessions); {share.summary()}")
        print(f"vacuumed the telemetry in {vacuum(TELEMETRY_TABLES):.1f} s (what autovacuum does to every day partition)")
        if args.load_only:
            _print_storage()
            return
    if not (args.skip_load and args.keep_rollups):
        print(f"built rollups in {build_rollups():.1f} s; vacuumed them in {vacuum(CELL_TABLES):.1f} s")
    _print_storage()
    if args.prepare_only:
        return
    with HostShare() as share:
        results = time_pages(args.requests)
        for page, key, p50, p95 in results:
            print(f"{page:9s} {key:>4s}: p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")
        if not args.no_direct:
            direct = _time(DIRECT_PAGES, args.requests)
            for page, label, p50, p95 in direct:
                print(f"{page:9s} {label:>6s}: p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  (reads runs directly)")
            results += direct
    print(f"pages (warm): {share.summary()}")
    for page, key, p50, p95 in time_pages(max(3, args.requests // 4), cold=True):
        print(f"{page:9s} {key:>4s}: p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  (cold: settled cache emptied)")
    print(f"ingest to visible (100-run batch refresh + overview render): {ingest_to_visible() * 1000:.0f} ms "
          f"+ up to one htmx poll period")
    error = percentile_error()
    if args.retention:
        result, dropped, before, after = time_retention()
        print(f"retention: dropped the oldest day ({dropped} partitions) in "
              f"{(result.lock_seconds + result.unlink_seconds) * 1000:.0f} ms (tables locked "
              f"{result.lock_seconds * 1000:.0f} ms for the DETACH, detached tables removed in "
              f"{result.unlink_seconds * 1000:.0f} ms after); keeping the day's ticket context and ROI figures "
              f"before it {result.keep_seconds * 1000:.0f} ms (nothing waits on it); task {result.seconds * 1000:.0f} ms;"
              f" tickets {before[0]} -> {after[0]} ({after[1]} with their context snapshot),"
              f" rollup cells {before[2]:,} -> {after[2]:,}")
    worst_page, worst_label, _p50, worst = max(results, key=lambda row: row[3])
    print(f"dashboard: worst p95 {worst:.1f} ms ({worst_page} {worst_label}; every page timed warm), "
          f"percentile error {error:.2f}%")


if __name__ == "__main__":
    main()
