"""Writing spans straight through the ingest write path, for tests of what it stores."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction

from monitoring.ingest import write as ingest_write
from monitoring.intake.normalize import normalize_spans
from tests.monitoring.otlp_builders import T0

NOW = T0 + timedelta(hours=1)


def write(spans, **kw) -> list[int]:
    normalized = normalize_spans(spans, now=NOW, **kw)
    with transaction.atomic():
        return ingest_write.write_records(normalized.records)
