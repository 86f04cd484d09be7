"""Rollup maintenance tasks."""

from __future__ import annotations

from celery import shared_task

from monitoring.rollups import cells as rollups


@shared_task(name="monitoring.tasks.prune_rollups", queue="default", soft_time_limit=300, time_limit=330,
             expires=1800)
def prune_rollups() -> dict:
    return rollups.prune()
