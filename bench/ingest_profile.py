"""In-process profile of the ingest worker: where a worker's time goes, per span.

Stores --batches 100-span OTLP protobuf batches (the same bodies bench/ingest.py sends) in the inbox
of a scratch database, then runs the worker's ``ingest_batch`` over them in groups as Celery would,
without HTTP or the broker. Prints ms per span and batches per second; then the delivery of the
announcements those transactions wrote (handoff tickets, after commit) as its own figure; with
--profile, the top functions by cumulative time.

    python bench/ingest_profile.py --batches 200 [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time

# bench/ingest.py (found next to this script): database helpers and request bodies; importing it
# also puts the repository on sys.path and selects the Django settings.
import ingest as ingest_bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--statements", action="store_true", help="print database time per statement kind")
    parser.add_argument("--steps", action="store_true", help="print wall and CPU time per step of the write path")
    parser.add_argument("--default-gc", action="store_true",
                        help="keep Python's default garbage collector settings (workers tune them)")
    args = parser.parse_args()
    with ingest_bench.scratch_database(keep=args.keep):
        run(args)


def run(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.utils import timezone

    from monitoring.ingest import outbox
    from monitoring.ingest import services as ingest_services
    from monitoring.models import Announcement, InboxBatch, Step

    call_command("migrate", verbosity=0)
    factory = ingest_bench.BodyFactory()
    now = timezone.now()
    ids = []
    for _ in range(args.batches):
        body, _trace_ids = factory.make()
        batch = InboxBatch.objects.create(kind=InboxBatch.Kind.OTLP_PROTOBUF, payload=body, compressed=True,
                                          span_count=factory.span_count, enqueued_at=now)
        ids.append(batch.pk)
    steps = time_steps() if args.steps else {}
    profiler = cProfile.Profile() if args.profile else None
    timings: dict[str, list[float]] = {}
    if args.statements:
        from django.db import connection

        def timed(execute, sql, params, many, context):
            began = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                timings.setdefault(" ".join(sql.split())[:90], []).append(time.perf_counter() - began)

        connection.execute_wrappers.append(timed)
    if not args.default_gc:
        from agentops.celery import tune_garbage_collector

        tune_garbage_collector()  # as each Celery worker process does at start
    collector = CollectorTime()
    backend_cpu = backend_cpu_reader()
    backend_started = backend_cpu()
    started, cpu_started = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    for batch_id in ids:  # as the worker would: each task groups the waiting batches on first attempt
        ingest_services.ingest_batch(batch_id)
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    backend = backend_cpu() - backend_started
    spans = Step.objects.count()
    print(f"{args.batches} batches, {spans:,} spans stored, groups of {settings.INTAKE_INGEST_GROUP}: "
          f"{elapsed * 1000 / max(spans, 1):.3f} ms per span, {spans / elapsed:,.0f} spans/s in one process "
          f"(worker CPU {cpu * 1000 / max(spans, 1):.3f} ms per span, its Postgres backend's CPU "
          f"{backend * 1000 / max(spans, 1):.3f} ms per span; the rest is waiting)")
    print(f"garbage collection: {collector.seconds * 1e6 / max(spans, 1):.1f} us per span "
          f"({collector.count} collections; {'default' if args.default_gc else 'worker'} settings)")
    announced = Announcement.objects.count()
    delivery_started, delivery_cpu = time.perf_counter(), time.process_time()
    delivered = outbox.deliver_due(seconds=3600)
    delivery, delivery_cpu = time.perf_counter() - delivery_started, time.process_time() - delivery_cpu
    print(f"after commit: {announced} announcements, {delivered.delivered} delivered (handoff tickets) in "
          f"{delivery:.2f} s, {delivery * 1000 / max(spans, 1):.3f} ms per span "
          f"(CPU {delivery_cpu * 1000 / max(spans, 1):.3f} ms per span)")
    if steps:
        print("per step (wall = CPU of this process + database and waiting), microseconds per stored span:")
        for name, (wall, cpu) in sorted(steps.items(), key=lambda item: -item[1][0]):
            print(f"  {name:42s} wall {wall * 1e6 / max(spans, 1):6.1f}  cpu {cpu * 1e6 / max(spans, 1):6.1f}"
                  f"  database+wait {(wall - cpu) * 1e6 / max(spans, 1):6.1f}")
    if timings:
        print("database time per statement (Django cursor calls; the step COPY runs on the raw cursor):")
        for sql, times in sorted(timings.items(), key=lambda item: -sum(item[1]))[:25]:
            print(f"  {sum(times) * 1000 / max(spans, 1) * 1000:7.1f} us/span {len(times):6d}x  {sql}")
    if profiler:
        pstats.Stats(profiler).sort_stats(os.environ.get("SORT", "cumulative")).print_stats(45)
        if os.environ.get("PROFILE_OUT"):
            profiler.dump_stats(os.environ["PROFILE_OUT"])


class CollectorTime:
    """Wall time spent in the cyclic garbage collector from now on (gc.callbacks)."""

    def __init__(self) -> None:
        import gc

        self.seconds, self.count, self._started = 0.0, 0, 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, _info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.count += 1


def backend_cpu_reader():
    """A function returning the CPU seconds used so far by this process's Postgres backend (read
    from /proc: the bench runs next to its database)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    ticks = os.sysconf("SC_CLK_TCK")

    def read() -> float:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime

    return read


STEPS = [
    ("monitoring.ingest.services", "ingest_batch"), ("monitoring.ingest.services", "normalize_batch"),
    ("monitoring.ingest.services", "_claim"), ("monitoring.ingest.services", "_count_attempt"),
    ("monitoring.ingest.write", "inherit_agent_keys"), ("monitoring.ingest.write", "resolve_agents"),
    ("monitoring.ingest.write", "_create_or_lock_runs"), ("monitoring.ingest.write", "_insert_steps"),
    ("monitoring.ingest.write", "_insert_scores"), ("monitoring.ingest.write", "_insert_escalations"),
    ("monitoring.ingest.write", "recompute_runs"), ("monitoring.rollups.cells", "refresh_for_runs"),
    ("monitoring.ingest.edges", "refresh_for_runs"), ("monitoring.ingest.outbox", "announce"),
    ("monitoring.ingest.invocations", "refresh_for_runs"), ("monitoring.rollups.insight_cells", "record_signatures"),
    ("handoffs.routing", "open_tickets_for_escalations"), ("handoffs.routing", "open_tickets_for_runs"),
]


def time_steps() -> dict[str, list[float]]:
    """Wrap the write path's steps (module attributes, looked up at call time by their callers) to
    add up their wall and CPU time."""
    import importlib

    totals: dict[str, list[float]] = {}

    def wrap(module, name: str) -> None:
        function = getattr(module, name)
        label = f"{module.__name__.split('.')[-1]}.{name}"

        def timed(*args, **kwargs):
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                entry = totals.setdefault(label, [0.0, 0.0])
                entry[0] += time.perf_counter() - wall
                entry[1] += time.process_time() - cpu

        setattr(module, name, timed)

    for module_name, name in STEPS:
        wrap(importlib.import_module(module_name), name)
    return totals


if __name__ == "__main__":
    main()
