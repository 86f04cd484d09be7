"""Dashboard upkeep task (beat): the settled-summary cache filled ahead of the first poll."""

from __future__ import annotations

from celery import shared_task

from monitoring.dashboards import warm


@shared_task(name="monitoring.tasks.warm_dashboards", queue="default", soft_time_limit=120, time_limit=150,
             expires=110)
def warm_dashboards() -> int:
    return warm.warm_default_ranges()
