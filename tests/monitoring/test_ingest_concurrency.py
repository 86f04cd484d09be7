"""Two workers ingesting at once, on real Postgres connections: the shared rollup cells (the same
agents' minutes, the fleet's) and the agent-map edges end up exactly as a rebuild from the stored
runs says, whatever the interleaving."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import OperationalError, connections, transaction
from django.utils import timezone

from demo.simulator import TraceGenerator, plan_to_span_inputs
from monitoring.ingest import write
from monitoring.intake.normalize import normalize_spans
from monitoring.models import Run, Step
from monitoring.rollups import cells as rollups
from tests.monitoring.factories import rollup_cells

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def worker(batches: list[list], start: threading.Barrier, failures: list[BaseException]) -> None:
    try:
        start.wait()
        for records in batches:
            for attempt in range(5):  # as the Celery task does: a deadlock or serialization error is retried
                try:
                    with transaction.atomic():
                        write.write_records(records)
                    break
                except OperationalError:
                    if attempt == 4:
                        raise
    except BaseException as exc:  # noqa: BLE001 - reported to the test thread
        failures.append(exc)
    finally:
        connections.close_all()


def test_two_workers_writing_the_same_agents_minutes_leave_the_cells_a_rebuild_gives(monkeypatch):
    refresh = rollups.refresh_for_runs

    def refresh_then_linger(*args, **kwargs):
        refresh(*args, **kwargs)
        time.sleep(0.05)  # hold the written cells uncommitted a while: the other worker must wait, not overwrite

    monkeypatch.setattr(rollups, "refresh_for_runs", refresh_then_linger)
    # The two workers write the same agents' runs into different minutes of the same hour: no minute
    # cell is shared, so only the rollup lock keeps each from merging the hour (and day) without the
    # other's uncommitted minutes and then overwriting it.
    hour = (timezone.now() - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    generator = TraceGenerator(seed=21)

    def batches_at(minute: int, count: int) -> list[list]:
        end = hour + timedelta(minutes=minute, seconds=50)
        return [
            normalize_spans([s for _ in range(6) for s in plan_to_span_inputs(generator.trace(end).end_at(end))],
                            now=timezone.now()).records
            for _ in range(count)
        ]

    first, second = batches_at(10, 8), batches_at(11, 8)
    second += first[-2:]  # a redelivery of the other worker's batches
    batches = first + second
    start, failures = threading.Barrier(2), []
    threads = [threading.Thread(target=worker, args=(part, start, failures)) for part in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    spans = {(r.trace_id, r.span_id) for records in batches for r in records}
    assert Step.objects.count() == len(spans) and Run.objects.count() == 16 * 6
    written = rollup_cells()
    rollups.rebuild(hour - timedelta(days=1), timezone.now())
    assert rollup_cells() == written and written
