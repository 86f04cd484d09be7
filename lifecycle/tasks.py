"""Beat task: the lifecycle watch (see services.run_watch); the watch alerts' sync after a stage change."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from monitoring.alerts.tasks import deliver_alert

from . import services

# Hourly: each run records today's check again, so a missed hour changes nothing.
_WATCH_OPTIONS = {
    "queue": "default", "soft_time_limit": 240, "time_limit": 300, "expires": 3000,
    "autoretry_for": (OperationalError,), "retry_kwargs": {"max_retries": 2, "countdown": 60},
}


@shared_task(name="lifecycle.tasks.watch_lifecycle", **_WATCH_OPTIONS)
def watch_lifecycle() -> dict:
    result = services.run_watch()
    for event_id, kind in result.deliveries:  # committed: run_watch owns its transaction
        deliver_alert.delay(event_id, kind)
    return {"checked": result.checked, "failed": result.failed, "flagged": result.flagged, "cleared": result.cleared}


@shared_task(name="lifecycle.tasks.sync_watch_alerts", queue="default", soft_time_limit=50, time_limit=60,
             expires=3000, autoretry_for=(OperationalError,), max_retries=2, retry_backoff=True)
def sync_watch_alerts() -> int:
    """After a flag is dismissed or the agent moves stage: resolve its alert now, not at the next watch."""
    deliveries = services.sync_watch_alerts(timezone.now())
    for event_id, kind in deliveries:
        deliver_alert.delay(event_id, kind)
    return len(deliveries)
