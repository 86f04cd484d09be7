"""The Celery app. Tasks live in each app's tasks.py; the beat schedule is in settings."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")

app = Celery("agentops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


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
