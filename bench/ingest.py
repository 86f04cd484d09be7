"""End-to-end ingest benchmark: HTTP (gunicorn) -> inbox -> Celery (Redis) -> Postgres.

N sender threads POST 100-span (``--spans-per-batch``) gzip protobuf OTLP batches to /v1/traces for --seconds, honouring
429/503 Retry-After (bodies, each with fresh trace ids, are prepared before the timed phase; the
senders share the machine's cores with the system under test; each keeps its connection alive, as
OpenTelemetry's exporter does). gunicorn runs as deployed: 3 workers of 4 threads. Reported:
sustained spans/s end to end (stored spans over the time from the first request until the inbox has
drained), CPU per stored span of each part (senders, gunicorn, Celery, the Postgres backends serving
each, Redis), accepted spans/s at the API, API latency p50/p95/p99,
time until a span is queryable, worker peak memory, why requests were refused, and two references:
the raw COPY rate of minimal step rows into the same step table (the reference limit), and that of
the step rows the run stored, copied back (rolled back). The last line is

    ingest: <N> spans/s sustained, raw COPY <M> spans/s, ratio <R> (against the stored rows' own COPY: <R2>)

``--preload N`` first loads N spans (bench/dashboard.py's generated data over 30 days, in day
partitions), so ingest and the raw COPY are measured against tables that already hold them;
``--reuse-database NAME`` runs in a database already loaded that way (bench/dashboard.py's) instead.

The benchmark creates its own database on the DATABASE_URL server (dropped at the end unless
--keep) and uses REDIS_URL as the broker:
    REDIS_URL=redis://127.0.0.1:6379/9 python bench/ingest.py --seconds 60 --senders 4
"""

from __future__ import annotations

import argparse
import collections
import gzip
import http.client
import io
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import dj_database_url
import psycopg2
import requests
from hostload import HostShare  # bench/hostload.py, beside this script

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")
# As deployed (docker-compose): DEBUG off, which needs a secret key of its own. With DEBUG on, Django
# would also keep a log of every query and print each warning twice.
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
# The bench talks plain HTTP to 127.0.0.1, where production has a TLS proxy in front.
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
BENCH_SERVICE = "bench-ingest"
BENCH_DB = f"agentops_bench_{os.getpid()}"


def _admin_connection():
    config = dj_database_url.parse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/agentops"))
    conn = psycopg2.connect(dbname="postgres", user=config["USER"], password=config["PASSWORD"] or None,
                            host=config["HOST"], port=config["PORT"] or 5432)
    conn.autocommit = True
    return conn, config


def create_database(name: str = BENCH_DB, *, create: bool = True) -> None:
    """A database of our own, so the benchmark neither reads nor pollutes anyone's data (``create``
    False: one that exists, named on purpose)."""
    conn, config = _admin_connection()
    if create:
        with conn.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    auth = config["USER"] + (f":{config['PASSWORD']}" if config["PASSWORD"] else "")
    os.environ["DATABASE_URL"] = f"postgres://{auth}@{config['HOST']}:{config['PORT'] or 5432}/{name}"


@contextmanager
def scratch_database(keep: bool = False) -> Iterator[None]:
    """The benchmark's own database for the block; dropped afterwards unless ``keep``."""
    create_database()
    try:
        yield
    finally:
        if not keep:
            drop_database()


def drop_database() -> None:
    from django.db import connections

    connections.close_all()
    conn, _config = _admin_connection()
    with conn.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
    conn.close()
SPANS_PER_BATCH = 100


# ---------------------------------------------------------------------------------------------
# Request bodies: a template request whose trace ids are swapped per request (cheap and unique)
# ---------------------------------------------------------------------------------------------


class BodyFactory:
    def __init__(self, spans_per_batch: int = SPANS_PER_BATCH) -> None:
        from django.utils import timezone

        from demo.simulator import TraceGenerator, plan_to_span_inputs
        from tests.monitoring.otlp_builders import otlp_request

        generator = TraceGenerator(42)
        spans = []
        now = timezone.now()
        while len(spans) < spans_per_batch:
            plan = generator.trace(now, agent="support-orchestrator").end_at(now)
            spans.extend(plan_to_span_inputs(plan))
        spans = _complete_traces(spans, spans_per_batch)
        for span in spans:
            span.resource = {"service.name": BENCH_SERVICE}
            if "gen_ai.agent.name" in span.attributes:  # bench agents, apart from any real ones
                name = "bench-" + span.attributes["gen_ai.agent.name"]
                span.attributes["gen_ai.agent.name"] = span.attributes["gen_ai.agent.id"] = name
        self.placeholders = sorted({bytes.fromhex(s.trace_id) for s in spans})
        self.template = otlp_request(spans, service=BENCH_SERVICE).SerializeToString()
        self.span_count = len(spans)

    def make(self) -> tuple[bytes, list[str]]:
        body, trace_ids = self.template, []
        for placeholder in self.placeholders:
            fresh = secrets.token_bytes(16)
            body = body.replace(placeholder, fresh)
            trace_ids.append(fresh.hex())
        return gzip.compress(body, compresslevel=1), trace_ids


def _complete_traces(spans, limit):
    """Whole traces only, about ``limit`` spans (a batch cut mid-trace is realistic too, but keeps
    the numbers simple to compare)."""
    by_trace: dict[str, list] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, []).append(span)
    chosen = []
    for trace_spans in by_trace.values():
        if chosen and len(chosen) + len(trace_spans) > limit:
            break
        chosen.extend(trace_spans)
    return chosen


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, workers: int, threads: int) -> subprocess.Popen:
    """gunicorn as the Dockerfile, docker-compose and ``make demo`` run it (``--threads`` > 1 is the
    gthread worker, which keeps connections alive between requests)."""
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "agentops.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
         "--threads", str(threads), "--log-level", "warning"],
        cwd=REPO, env={**os.environ, "DB_CONN_MAX_AGE": "600", "PGAPPNAME": "bench-intake"},
    )


def start_worker(concurrency: int, nice: int = 0) -> subprocess.Popen:
    """``nice``: the worker's CPU priority below the web server's (the API answers while ingest is
    asynchronous; in production the worker runs on its own cores or with fewer CPU shares)."""
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "agentops", "worker", "--pool=prefork", f"--concurrency={concurrency}",
         "--loglevel=WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=REPO, env={**os.environ, "DB_CONN_MAX_AGE": "600", "PGAPPNAME": "bench-worker"},
        preexec_fn=(lambda: os.nice(nice)) if nice else None,  # noqa: PLW1509 - no threads yet at bench start
    )


def wait_until_up(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=5)
            return
        except requests.RequestException:  # not listening yet, or workers still booting
            time.sleep(0.2)
    raise SystemExit(f"server at {url} did not start")


def process_tree_peak_kb(pid: int) -> int:
    """Largest peak RSS (VmHWM) among ``pid`` and its children (prefork pool processes)."""
    peak = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except FileNotFoundError:
            continue
    return peak


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int, *, reaped: bool = False) -> float:
    """User + system CPU of one process (with ``reaped``, plus that of its exited, waited-for children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if reaped:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / _TICK


def _tree(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(p) for p in children.read_text().split()] if children.exists() else []
    return [pid, *(k for kid in kids for k in _tree(kid))]


def _named(name: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                continue
    return pids


def _postgres_backends() -> dict[int, str]:
    """pid -> application_name of this database's client backends (gunicorn and Celery connect with
    PGAPPNAME set, see start_server / start_worker)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid, application_name FROM pg_stat_activity WHERE datname = current_database()")
        return dict(cursor.fetchall())


def cpu_by_part(server_pid: int, worker_pid: int) -> dict[str, float]:
    """CPU seconds so far of each part of the path. Postgres time is split into the backends serving
    gunicorn (intake) and Celery (worker); "postgres other" is every other Postgres process on the
    machine (WAL writer, checkpointer, autovacuum, the bench's own queries), so run this on a quiet
    machine."""
    postgres = _named("postgres")
    postmaster = min(postgres, default=0)  # started first
    backends = _postgres_backends()
    parts = {
        "senders": time.process_time(),
        "gunicorn": sum(_cpu_seconds(p, reaped=p == server_pid) for p in _tree(server_pid)),
        "celery": sum(_cpu_seconds(p, reaped=p == worker_pid) for p in _tree(worker_pid)),
        "postgres intake": 0.0, "postgres worker": 0.0, "postgres other": 0.0,
        "redis": sum(_cpu_seconds(p) for p in _named("redis-server")),
    }
    for pid in postgres:
        app = backends.get(pid, "")
        part = {"bench-intake": "postgres intake", "bench-worker": "postgres worker"}.get(app, "postgres other")
        parts[part] += _cpu_seconds(pid, reaped=pid == postmaster)
    return parts


# ---------------------------------------------------------------------------------------------
# Senders and freshness probe
# ---------------------------------------------------------------------------------------------


@dataclass
class Stats:
    latencies_ms: list[float] = field(default_factory=list)
    accepted_spans: int = 0
    throttled: int = 0
    throttle_reasons: collections.Counter = field(default_factory=collections.Counter)
    errors: int = 0
    probes: list[tuple[str, float]] = field(default_factory=list)  # (trace id, monotonic send time)
    lock: threading.Lock = field(default_factory=threading.Lock)


class BodyPool:
    """Request bodies made before the timed phase (fresh trace ids each, gzipped), so that the load
    generator, which shares the machine's cores with the system under test, spends its CPU on
    sending rather than on building and compressing bodies. Made on the fly if the pool runs dry."""

    def __init__(self, factory: BodyFactory, count: int) -> None:
        self.factory = factory
        self.bodies = collections.deque(factory.make() for _ in range(count))

    def take(self) -> tuple[bytes, list[str]]:
        try:
            return self.bodies.popleft()  # deque.popleft is atomic: safe across sender threads
        except IndexError:
            return self.factory.make()


def sender(url: str, token: str, pool: BodyPool, stop_at: float, stats: Stats, probe_every: int) -> None:
    """POST bodies until ``stop_at`` with the standard library's HTTP client on one kept-alive
    connection, as OpenTelemetry's exporter does (a ``requests`` session); a connection the server
    closed (idle timeout, a sync worker) is replaced and the request sent again. ``requests`` itself
    cost the bench about as much CPU per request as the intake view."""
    target = urllib.parse.urlsplit(url)
    headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip", "Authorization": f"Bearer {token}"}
    sent = 0
    connection = None
    while time.monotonic() < stop_at:
        body, trace_ids = pool.take()
        started = time.monotonic()
        status, retry_after = 0, "1"
        for _attempt in range(2):
            reused = connection is not None
            connection = connection or http.client.HTTPConnection(target.hostname, target.port, timeout=30)
            try:
                connection.request("POST", target.path, body=body, headers=headers)
                response = connection.getresponse()
                answer = response.read()
                status, retry_after = response.status, response.getheader("Retry-After", "1")
                if response.will_close:
                    connection.close()
                    connection = None
                break
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = None
                if not reused:
                    break  # a fresh connection failed: count it as an error
        elapsed = (time.monotonic() - started) * 1000
        with stats.lock:
            if status == 200:
                stats.latencies_ms.append(elapsed)
                stats.accepted_spans += pool.factory.span_count
                sent += 1
                if sent % probe_every == 0:
                    stats.probes.append((trace_ids[0], time.monotonic()))
            elif status in (429, 503):
                stats.throttled += 1
                stats.throttle_reasons[_reason(answer)] += 1
            else:
                stats.errors += 1
        if status in (429, 503):
            time.sleep(float(retry_after))
    if connection is not None:
        connection.close()


def _reason(body: bytes) -> str:
    """The message of a refusal (a google.rpc.Status protobuf, as OTLP/HTTP answers)."""
    from google.protobuf.message import DecodeError
    from google.rpc import status_pb2

    try:
        return status_pb2.Status.FromString(body).message[:160]
    except DecodeError:
        return body[:160].decode("utf-8", "replace")


def lock_waits(stop: threading.Event, every: float = 0.02) -> dict[str, int]:
    """Samples of the worker's Postgres backends every ``every`` s: how many were connected, busy,
    and waiting on a lock, by lock type (advisory: rollup cells and traces; transactionid/tuple: rows)."""
    from django.db import connections

    counts: dict[str, int] = defaultdict(int)
    sql = ("SELECT state, wait_event_type, wait_event FROM pg_stat_activity"
           " WHERE datname = current_database() AND application_name = 'bench-worker'")
    while not stop.is_set():
        with connections["default"].cursor() as cursor:
            cursor.execute(sql)
            for state, wait_type, wait_event in cursor.fetchall():
                counts["samples"] += 1
                if state == "active":
                    counts["busy"] += 1
                    if wait_type == "Lock":
                        counts[f"lock {wait_event}"] += 1
        time.sleep(every)
    connections.close_all()
    return counts


def freshness(stats: Stats, stop: threading.Event) -> list[float]:
    """Seconds from sending a probed batch until its run is queryable."""
    from django.db import connections

    from monitoring.models import Run

    seen: dict[str, float] = {}

    while not stop.is_set() or len(seen) < len(stats.probes):
        with stats.lock:
            pending = [(t, at) for t, at in stats.probes if t not in seen]
        if pending:
            found = set(Run.objects.filter(trace_id__in=[t for t, _ in pending]).values_list("trace_id", flat=True))
            now = time.monotonic()
            for trace_id, at in pending:
                if trace_id in found:
                    seen[trace_id] = now - at
        if stop.is_set() and not pending:
            break
        time.sleep(0.25)  # resolution enough for seconds; a tighter loop costs the machine under test
    connections.close_all()
    return list(seen.values())


# ---------------------------------------------------------------------------------------------
# Raw COPY reference
# ---------------------------------------------------------------------------------------------


def raw_copy_rate(rows: int) -> float:
    """COPY ``rows`` step rows (as ingest would write them) into monitoring_step; rows/s."""
    from django.db import connection
    from django.utils import timezone

    from agentops.models import Agent
    from monitoring.models import Run

    agent, _ = Agent.objects.get_or_create(slug=BENCH_SERVICE, defaults={"name": BENCH_SERVICE, "discovered": True})
    now = timezone.now()
    run = Run.objects.create(trace_id=secrets.token_hex(16), agent=agent, started_at=now, ended_at=now)
    # What ingest keeps of a span's attributes: those the columns do not hold.
    attributes = '{"gen_ai.system": "openai"}'
    buffer = io.StringIO()
    for _ in range(rows):
        buffer.write(
            f"{run.pk}\t{secrets.token_hex(8)}\t\t{agent.pk}\tt\tchat gpt-4o-mini\tllm\tchat\tgpt-4o-mini\t\t"
            f"{now.isoformat()}\t{now.isoformat()}\t420.5\tok\t\t\t1200\t180\t0.000288\t\t\t{attributes}\t[]\n"
        )
    buffer.seek(0)
    columns = ("run_id, span_id, parent_span_id, agent_id, declared_agent, name, kind, operation, model, "
               "tool_name, started_at, ended_at, duration_ms, status, error_type, error_message, input_tokens, "
               "output_tokens, cost, input, output, attributes, events")
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(f"COPY monitoring_step ({columns}) FROM STDIN", buffer)
    return rows / (time.monotonic() - started)


def stored_rows_copy_rate(rows: int, since) -> float:
    """COPY back ``rows`` of the step rows this run stored since ``since`` (as ingest wrote them: their
    own names, attributes, events and text, larger than ``raw_copy_rate``'s minimal row) into
    monitoring_step, in a transaction rolled back afterwards; rows/s. A second reference: how much of
    the gap to raw COPY is the rows' own content rather than the pipeline."""
    from django.db import connection, transaction

    columns = ("run_id, span_id, parent_span_id, agent_id, declared_agent, name, kind, operation, model, "
               "tool_name, started_at, ended_at, duration_ms, status, error_type, error_message, input_tokens, "
               "output_tokens, cost, input, output, attributes, events")
    buffer = io.StringIO()
    with transaction.atomic(), connection.cursor() as cursor:
        query = cursor.mogrify(
            f"SELECT {columns} FROM monitoring_step WHERE started_at >= %s AND agent_id IN"  # noqa: S608 - constants
            " (SELECT id FROM agentops_agent WHERE slug LIKE %s) LIMIT %s", [since, "bench-%", rows]).decode()
        cursor.cursor.copy_expert(f"COPY ({query}) TO STDOUT", buffer)
        copied = buffer.getvalue().count("\n")
        buffer.seek(0)
        started = time.monotonic()
        cursor.cursor.copy_expert(f"COPY monitoring_step ({columns}) FROM STDIN", buffer)
        elapsed = time.monotonic() - started
        transaction.set_rollback(True)
    return copied / elapsed if elapsed else 0.0


# ---------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--server-workers", type=int, default=3)
    parser.add_argument("--server-threads", type=int, default=4, help="gunicorn threads per worker (as deployed)")
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--worker-nice", type=int, default=10,
                        help="CPU priority of the Celery worker below the web server (as deployed: docker-compose gives it half the CPU shares)")
    parser.add_argument("--spans-per-batch", type=int, default=SPANS_PER_BATCH,
                        help="spans per request, whole traces (OpenTelemetry's batch exporter sends up to 512)")
    parser.add_argument("--keep", action="store_true", help=f"keep the benchmark database ({BENCH_DB})")
    parser.add_argument("--preload", type=int, default=0, metavar="N",
                        help="first load N spans over 30 days (bench/dashboard.py's data), so ingest and the raw "
                             "COPY run against tables that already hold them")
    parser.add_argument("--reuse-database", metavar="NAME",
                        help="run in this existing database (for example bench/dashboard.py's, holding its spans)"
                             " instead of a scratch one; it is kept, with the spans ingested added")
    args = parser.parse_args()
    if args.reuse_database:
        create_database(args.reuse_database, create=False)
        run_benchmark(args)
        return
    with scratch_database(keep=args.keep):
        run_benchmark(args)


def run_benchmark(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from agentops.models import ApiKey
    from monitoring.models import InboxBatch, Step

    call_command("migrate", verbosity=0)
    if args.preload:
        import dashboard  # bench/dashboard.py, beside this script

        runs, load_seconds, share = dashboard.load(args.preload, workers=2)
        print(f"preloaded {runs * dashboard.SPANS_PER_RUN:,} spans in {load_seconds:.1f} s; {share.summary()}")
    _key, token = ApiKey.generate(label="ingest benchmark")
    factory = BodyFactory(args.spans_per_batch)
    # Above what the API accepts per second.
    pool = BodyPool(factory, int(args.seconds * 150 * SPANS_PER_BATCH / factory.span_count) + 1)
    port = free_port()
    server, worker = start_server(port, args.server_workers, args.server_threads), start_worker(args.worker_concurrency, args.worker_nice)
    stats, stop = Stats(), threading.Event()
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz")
        steps_before = Step.objects.count()
        cpu_before = cpu_by_part(server.pid, worker.pid)
        probe_results: list[float] = []
        probe = threading.Thread(target=lambda: probe_results.extend(freshness(stats, stop)))
        probe.start()
        waits: dict[str, int] = {}
        sampler = threading.Thread(target=lambda: waits.update(lock_waits(stop)))
        sampler.start()
        host = HostShare().__enter__()
        sending_from = timezone.now() - timedelta(minutes=5)  # the bodies' spans end at their build time
        started = time.monotonic()
        stop_at = started + args.seconds
        url = f"http://127.0.0.1:{port}/v1/traces"
        threads = [threading.Thread(target=sender, args=(url, token, pool, stop_at, stats, 5))
                   for _ in range(args.senders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        send_seconds = time.monotonic() - started
        while InboxBatch.objects.filter(status=InboxBatch.Status.PENDING).exists():
            if time.monotonic() - started > args.seconds * 10 + 120:
                print("warning: inbox did not drain in time", file=sys.stderr)
                break
            time.sleep(0.2)
        drained_seconds = time.monotonic() - started
        host.__exit__(None, None, None)
        cpu_after = cpu_by_part(server.pid, worker.pid)
        stop.set()
        probe.join()
        sampler.join()
        stored = Step.objects.count() - steps_before
        peak_mb = process_tree_peak_kb(worker.pid) / 1024
    finally:
        for process in (server, worker):
            process.terminate()
        for process in (server, worker):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
    dead = InboxBatch.objects.filter(status=InboxBatch.Status.DEAD).count()
    with HostShare() as copy_host:
        copy_rate = raw_copy_rate(min(max(stored, 20_000), 200_000))
        same_rows_rate = stored_rows_copy_rate(min(max(stored, 20_000), 200_000), sending_from)
    sustained = stored / drained_seconds if drained_seconds else 0.0
    print(f"senders {args.senders}, {args.seconds:g} s of sending, gunicorn x{args.server_workers} (threads {args.server_threads}), "
          f"celery x{args.worker_concurrency} (nice {args.worker_nice}), {factory.span_count} spans per batch")
    print(f"API: {stats.accepted_spans / send_seconds:,.0f} spans/s accepted, {len(stats.latencies_ms)} requests, "
          f"p50 {percentile(stats.latencies_ms, 50):.1f} ms, p95 {percentile(stats.latencies_ms, 95):.1f} ms, "
          f"p99 {percentile(stats.latencies_ms, 99):.1f} ms, throttled {stats.throttled}, errors {stats.errors}")
    for reason, times in stats.throttle_reasons.most_common(3):
        print(f"  refused {times}x: {reason}")
    print(f"stored {stored:,} spans; inbox drained {drained_seconds - send_seconds:.1f} s after sending stopped; "
          f"dead letters {dead}")
    print(f"time until queryable: p50 {percentile(probe_results, 50):.2f} s, p95 {percentile(probe_results, 95):.2f} s "
          f"({len(probe_results)} probes)")
    print(f"worker peak memory (largest process): {peak_mb:.0f} MB")
    busy = max(waits.get("busy", 0), 1)
    print(f"worker lock waits: {sum(n for k, n in waits.items() if k.startswith('lock ')) / busy:.1%} of busy worker "
          f"backend samples (" + ", ".join(f"{k.removeprefix('lock ')} {n / busy:.1%}" for k, n in sorted(waits.items())
                                          if k.startswith("lock ")) + f"; {waits.get('samples', 0)} samples)")
    used = {part: cpu_after[part] - cpu_before[part] for part in cpu_before}
    print("CPU per stored span: " + ", ".join(
        f"{part} {seconds * 1e6 / max(stored, 1):.0f} us" for part, seconds in used.items()
    ) + f"; total {sum(used.values()) * 1e6 / max(stored, 1):.0f} us "
        f"({sum(used.values()) / drained_seconds:.2f} cores busy over {drained_seconds:.0f} s)")
    print(f"host while ingesting: {host.host()}; during the raw COPY: {copy_host.host()}")
    print(f"raw COPY of the rows this run stored (their own names, attributes, events and text): "
          f"{same_rows_rate:,.0f} spans/s, ratio {sustained / same_rows_rate:.3f}")
    print(f"ingest: {sustained:,.0f} spans/s sustained, raw COPY {copy_rate:,.0f} spans/s, "
          f"ratio {sustained / copy_rate:.3f} (against the stored rows' own COPY: {sustained / same_rows_rate:.3f})")


if __name__ == "__main__":
    main()
