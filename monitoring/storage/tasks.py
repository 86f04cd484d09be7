"""Partition upkeep task (beat, hourly)."""

from __future__ import annotations

from celery import shared_task

from monitoring.storage import services


@shared_task(name="monitoring.tasks.maintain_partitions", queue="default", soft_time_limit=600, time_limit=660,
             expires=1800)
def maintain_partitions() -> dict:
    return services.maintain()
