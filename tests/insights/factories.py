"""Shared helpers of the insights tests: failed runs in a failure group at a fixed time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.monitoring.factories import make_run

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
FP_A, FP_B = "a" * 40, "b" * 40


def failing(agent, fp=FP_A, at=NOW - timedelta(hours=1), **kw):
    return make_run(agent, status="error", started_at=at, fingerprint=fp, **kw)
