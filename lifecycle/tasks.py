"""Beat task: the lifecycle watch (see services.run_watch)."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from . import services

# Hourly: each run records today's check again, so a missed hour changes nothing.
_WATCH_OPTIONS = {
    "queue": "default", "soft_time_limit": 240, "time_limit": 300, "expires": 3000,
    "autoretry_for": (OperationalError,), "retry_kwargs": {"max_retries": 2, "countdown": 60},
}


@shared_task(name="lifecycle.tasks.watch_lifecycle", **_WATCH_OPTIONS)
def watch_lifecycle() -> dict:
    result = services.run_watch()
    return {"checked": result.checked, "failed": result.failed, "flagged": result.flagged, "cleared": result.cleared}
