"""Demo telemetry history: a few days of simulated traces through the real normaliser and ingest.

Called by ``manage.py seed_demo`` after the registry seed. Idempotent: when runs older than an hour
exist, the history is already there and nothing is added. The live simulator adds current traffic.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TextIO

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from demo.simulator import TraceGenerator, plan_to_span_inputs
from monitoring.ingest.write import write_records
from monitoring.intake.normalize import normalize_spans
from monitoring.models import Run

HISTORY_DAYS = 3
HISTORY_RUNS = 3000
CHUNK_RUNS = 150


def seed(stdout: TextIO, *, runs: int = HISTORY_RUNS, days: int = HISTORY_DAYS) -> None:
    now = timezone.now()
    if Run.objects.filter(started_at__lt=now - timedelta(hours=1)).exists():
        stdout.write("monitoring: telemetry history already present")
        return
    started = time.monotonic()
    start, end = now - timedelta(days=days), now - timedelta(minutes=5)
    generator = TraceGenerator(2026, history_start=start, history_end=end)
    plans = sorted(generator.history(start, end, runs), key=lambda p: p.root.start)
    stored = 0
    for offset in range(0, len(plans), CHUNK_RUNS):
        spans = [s for plan in plans[offset:offset + CHUNK_RUNS] for s in plan_to_span_inputs(plan)]
        normalized = normalize_spans(spans, now=now, text_cap=settings.INTAKE_TEXT_CAP_BYTES)
        with transaction.atomic():
            write_records(normalized.records)
        stored += len(normalized.records)
    stdout.write(f"monitoring: {len(plans)} runs ({stored} spans) over {days} days "
                 f"in {time.monotonic() - started:.1f} s")
