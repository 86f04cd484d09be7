"""Evals' receiver of monitoring's ``RUNS_RECORDED`` announcements: enqueue online evaluation of
sampled runs.

Called after the telemetry committed, in the announcement delivery's transaction (receivers must be
idempotent): the selection is a few small queries, and the tasks are published after that commits.
"""

from __future__ import annotations

from django.db import transaction

from monitoring.announcements import RUNS_RECORDED, register

from . import online, tasks


def sample_runs(run_ids: list[int]) -> None:
    picked = online.pick_runs(list(run_ids))
    if picked:
        transaction.on_commit(lambda: [tasks.enqueue_online(oid, ids) for oid, ids in picked.items()])


def connect() -> None:
    register(RUNS_RECORDED, "evals.sample_runs", sample_runs)
