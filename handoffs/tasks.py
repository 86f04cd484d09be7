"""Beat tasks: small wrappers over services (which own their transactions)."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from . import services

# Sweeps run every 30-60 s; a stale message is useless once the next one is due.
_SWEEP_OPTIONS = {
    "queue": "default", "soft_time_limit": 20, "time_limit": 30, "expires": 60,
    "autoretry_for": (OperationalError,), "retry_kwargs": {"max_retries": 2, "countdown": 5},
}


@shared_task(name="handoffs.tasks.expire_leases", **_SWEEP_OPTIONS)
def expire_leases() -> int:
    return services.expire_leases()


@shared_task(name="handoffs.tasks.wake_pending_tickets", **_SWEEP_OPTIONS)
def wake_pending_tickets() -> int:
    return services.wake_pending_tickets()


@shared_task(name="handoffs.tasks.close_resolved_tickets", **_SWEEP_OPTIONS)
def close_resolved_tickets() -> int:
    return services.close_resolved_tickets()
