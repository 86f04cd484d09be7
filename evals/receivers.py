"""Evals' receiver of monitoring's ``runs_recorded``: enqueue online evaluation of sampled runs.

Runs inside the ingest transaction (receivers must be cheap and idempotent): the selection is a few
small queries, and the tasks are published after commit.
"""

from __future__ import annotations

from django.db import transaction

from monitoring.signals import runs_recorded

from . import online, tasks


def sample_runs(sender=None, run_ids: list[int] = (), **_kwargs) -> None:
    picked = online.pick_runs(list(run_ids))
    if picked:
        transaction.on_commit(lambda: [tasks.enqueue_online(oid, ids) for oid, ids in picked.items()])


def connect() -> None:
    runs_recorded.connect(sample_runs, dispatch_uid="evals.receivers.sample_runs")
