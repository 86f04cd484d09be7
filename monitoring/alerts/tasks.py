"""Alert tasks: evaluate rules (beat) and deliver one notification."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from monitoring.alerts import services as alerts


@shared_task(name="monitoring.tasks.evaluate_alerts", queue="default", soft_time_limit=50, time_limit=60,
             expires=55, autoretry_for=(OperationalError,), max_retries=2, retry_backoff=True)
def evaluate_alerts() -> dict:
    # expires < beat period: a backlog of stale evaluations is skipped rather than run late.
    result = alerts.evaluate_rules()
    for event_id, kind in result.deliveries:  # each event is committed already
        deliver_alert.delay(event_id, kind)
    return {"opened": result.opened, "resolved": result.resolved, "judged": result.judged}


@shared_task(name="monitoring.tasks.deliver_alert", queue="default", soft_time_limit=30, time_limit=40,
             expires=3600, autoretry_for=(OperationalError,), max_retries=3, retry_backoff=True)
def deliver_alert(event_id: int, kind: str) -> int:
    return len(alerts.deliver_event(event_id, kind))
