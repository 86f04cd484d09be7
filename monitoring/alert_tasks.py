"""Celery tasks of live monitoring (alerts, rollup retention).

monitoring/tasks.py belongs to the intake pipeline; these tasks keep the ``monitoring.tasks.*`` names
the beat schedule uses and are imported from ``MonitoringConfig.ready()``.
"""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from . import alerts, rollups


@shared_task(name="monitoring.tasks.evaluate_alerts", queue="default", soft_time_limit=50, time_limit=60,
             expires=55, autoretry_for=(OperationalError,), max_retries=2, retry_backoff=True)
def evaluate_alerts() -> dict:
    # expires < beat period: a backlog of stale evaluations is skipped rather than run late.
    result = alerts.evaluate_rules()
    return {"opened": result.opened, "resolved": result.resolved, "judged": result.judged}


@shared_task(name="monitoring.tasks.deliver_alert", queue="default", soft_time_limit=30, time_limit=40,
             expires=3600, autoretry_for=(OperationalError,), max_retries=3, retry_backoff=True)
def deliver_alert(event_id: int, kind: str) -> int:
    return len(alerts.deliver_event(event_id, kind))


@shared_task(name="monitoring.tasks.prune_rollups", queue="default", soft_time_limit=300, time_limit=330,
             expires=1800)
def prune_rollups() -> dict:
    return rollups.prune()
