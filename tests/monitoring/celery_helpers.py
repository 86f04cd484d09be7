"""Real Celery workers for pipeline tests: in a thread of the test process, or as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.conf import settings
from django.db import connection, connections

REPO = Path(__file__).resolve().parents[2]


def purge_broker() -> None:
    """Drop queued and unacknowledged messages on the test's own Redis database."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete("default", "unacked", "unacked_index", "unacked_mutex")


def _close_thread_connections(**_kwargs) -> None:
    connections.close_all()  # the worker thread must not keep the test database open


@contextmanager
def thread_worker(*, purge: bool = True) -> Iterator[None]:
    from agentops.celery import app

    if purge:
        purge_broker()
    task_postrun.connect(_close_thread_connections)
    try:
        with start_worker(app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=10,
                          loglevel="WARNING"):
            yield
    finally:
        task_postrun.disconnect(_close_thread_connections)


def worker_env() -> dict[str, str]:
    """The subprocess talks to the test database (pytest-django renamed it) and our Redis."""
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{connection.settings_dict['NAME']}"
    env["REDIS_URL"] = settings.REDIS_URL
    env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
    env["DB_CONN_MAX_AGE"] = "0"
    return env


def start_subprocess_worker(script: str | None = None, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    command = [sys.executable, script, *args] if script else [
        sys.executable, "-m", "celery", "-A", "agentops", "worker", "--pool=solo", "--concurrency=1",
        "--loglevel=WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]
    return subprocess.Popen(command, cwd=REPO, env={**worker_env(), **(env or {})}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for(condition: Callable[[], bool], timeout: float = 90, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
