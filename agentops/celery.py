"""The Celery app. Tasks live in each app's tasks.py; the beat schedule is in settings."""

import gc
import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")

app = Celery("agentops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
@signals.beat_init.connect
def refuse_insecure_serving(**_kwargs) -> None:
    """A worker or beat serves the product: not with DEBUG off and the development SECRET_KEY.
    SystemExit, because Celery logs and swallows any Exception a signal handler raises."""
    from agentops.serving import insecure_reason

    if reason := insecure_reason():
        raise SystemExit(reason)


@signals.task_prerun.connect
@signals.task_postrun.connect
def recycle_database_connections(task=None, **_kwargs) -> None:
    """Treat a task like a request: keep the worker's database connection for CONN_MAX_AGE, drop it
    when it broke or errored. Celery's own Django fixup would close it after every task (unless
    CELERY_DB_REUSE_MAX is set, see settings), so each ingest task paid a new Postgres backend and
    re-created the session's staging table. A task applied in-process (``apply()``, eager) runs on
    its caller's connection, which is the caller's to manage."""
    from django.db import close_old_connections

    if task is not None and task.request.is_eager:
        return
    close_old_connections()


# Generation thresholds for worker processes: collections of the youngest generation every 10 000
# net allocations instead of 700, and of the oldest far more rarely. Ingest allocates and frees
# hundreds of thousands of short-lived, acyclic objects per transaction (spans, records, rows);
# reference counting frees them, and the cyclic collector only re-scanned everything else.
WORKER_GC_THRESHOLDS = (10_000, 50, 100)


def tune_garbage_collector() -> None:
    """Move everything loaded so far (Django, the app, the Celery machinery) to the collector's
    permanent generation, which it never scans, and collect less often: every full collection walked
    every object of the process (figures in docs/performance.md). Objects created later are collected
    as usual."""
    gc.freeze()
    gc.set_threshold(*WORKER_GC_THRESHOLDS)


@signals.worker_process_init.connect
def tune_worker_process(**_kwargs) -> None:
    """In each prefork child, once it is ready to take tasks."""
    tune_garbage_collector()
