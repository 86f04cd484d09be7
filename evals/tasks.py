"""Celery tasks of the evals app: experiment slots, the sweeper, online evaluation."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from . import online, runner

logger = logging.getLogger(__name__)

# A slot works for EVALS_SLOT_SECONDS, then hands over to a successor; one item can take up to
# attempts x (1 + judges) x the endpoint timeout on top, hence the generous hard limit.
SLOT_OPTIONS = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 2,
    "max_retries": 5,
    "soft_time_limit": 1800,
    "time_limit": 1900,
}


@shared_task(name="evals.tasks.run_slot", **SLOT_OPTIONS)
def run_slot(experiment_id: int) -> dict:
    result = runner.run_slot(experiment_id)
    if result.more:
        enqueue_slots(experiment_id, 1)
    return {"items": result.items, "more": result.more}


def enqueue_experiment(experiment) -> None:
    """Start a new experiment's slots (call once ``runner.start_experiment`` has committed)."""
    enqueue_slots(experiment.pk, min(experiment.concurrency, experiment.case_count))


def enqueue_slots(experiment_id: int, count: int) -> None:
    """Start ``count`` slots for an experiment. A broker outage leaves it to the sweeper."""
    for _ in range(max(0, count)):
        try:
            run_slot.apply_async(args=[experiment_id], expires=max(600, settings.EVALS_SLOT_SECONDS * 10))
        except Exception:  # noqa: BLE001 - any broker failure; the sweeper restarts idle experiments
            logger.warning("could not enqueue a slot of experiment %s; the sweeper will", experiment_id, exc_info=True)
            return


@shared_task(name="evals.tasks.sweep_experiments", expires=55, soft_time_limit=50, time_limit=55)
def sweep_experiments() -> dict:
    result = runner.sweep_experiments()
    for experiment_id, slots in result.restarted:
        enqueue_slots(experiment_id, slots)
    return {"released": result.released, "restarted": len(result.restarted), "finished": len(result.finished)}


@shared_task(name="evals.tasks.evaluate_online", expires=600, soft_time_limit=600, time_limit=660,
             autoretry_for=(OperationalError, InterfaceError), max_retries=3, retry_backoff=5)
def evaluate_online(online_id: int, run_ids: list[int]) -> dict:
    result = online.evaluate_runs(online_id, run_ids)
    return {"scored": result.scored, "skipped": result.skipped}


def enqueue_online(online_id: int, run_ids: list[int]) -> None:
    try:
        evaluate_online.apply_async(args=[online_id, run_ids])
    except Exception:  # noqa: BLE001 - sampling is best effort: a lost sample is not a lost run
        logger.warning("could not enqueue online evaluation %s", online_id, exc_info=True)
