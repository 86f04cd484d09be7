"""Demo seed: history through the real normaliser and ingest, idempotent."""

from __future__ import annotations

import io

import pytest

from demo.monitoring import seed
from monitoring.models import Escalation, Run

pytestmark = pytest.mark.django_db


def test_seed_builds_history_once():
    out = io.StringIO()
    seed(out, runs=120, days=2)
    runs = Run.objects.count()
    assert runs == 120 and Escalation.objects.exists()
    assert Run.objects.filter(status="error").exists() and Run.objects.exclude(quality_score=None).count() == runs
    seed(out, runs=120, days=2)
    assert Run.objects.count() == runs and "already present" in out.getvalue()
