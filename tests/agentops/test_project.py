"""The project's shape: docker-compose is coherent, settings refuse unsafe production configs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_names_the_production_services(compose):
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(compose["services"])


def test_compose_services_have_health_checks_and_volumes(compose):
    services = compose["services"]
    for name in ("postgres", "redis", "web", "worker"):
        assert "healthcheck" in services[name], name
    assert {"pgdata", "redisdata"} <= set(compose["volumes"])


def test_compose_commands_exist_in_the_project(compose):
    services = compose["services"]
    web = services["web"]["command"]
    assert web[0] == "gunicorn" and web[1] == "agentops.wsgi"
    assert (ROOT / "agentops" / "wsgi.py").exists()
    assert services["worker"]["command"][:3] == ["celery", "-A", "agentops"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "agentops", "beat"]
    assert (ROOT / "agentops" / "celery.py").exists()
    migrate = services["migrate"]["command"]
    assert migrate[:2] == ["python", "manage.py"] and migrate[2] in get_commands()
    assert (ROOT / "Dockerfile").exists()


def test_worker_yields_the_cpu_to_the_web_server(compose):
    """Ingest is asynchronous, requests are not: on shared cores the worker has the smaller weight."""
    services = compose["services"]
    assert services["worker"]["cpu_shares"] < services["web"].get("cpu_shares", 1024)


def test_worker_consumes_every_queue_tasks_are_routed_to(compose):
    from agentops.celery import app

    app.loader.import_default_modules()
    command = compose["services"]["worker"]["command"]
    worker_queues = set(command[command.index("-Q") + 1].split(","))
    ours = [t for name, t in app.tasks.items() if name.split(".")[0] in {"agentops", "monitoring", "handoffs", "roi"}]
    assert ours, "no project tasks registered"
    task_queues = {getattr(t, "queue", None) or "default" for t in ours}
    assert task_queues <= worker_queues


def _settings_check(env: dict) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT, env={**full_env, "DJANGO_SETTINGS_MODULE": "agentops.settings"}, capture_output=True, text=True,
    )


def test_production_mode_refuses_to_serve_with_the_development_secret_key():
    """Settings load (administration commands run); the WSGI application refuses to serve
    (tests/security/test_production_defaults.py covers runserver, ASGI, Celery and check --deploy)."""
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env = {**env, "DEBUG": "0", "DJANGO_SETTINGS_MODULE": "agentops.settings"}
    loads = subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env,
                           capture_output=True, text=True)
    assert loads.returncode == 0, loads.stderr
    serves = subprocess.run([sys.executable, "-c", "import agentops.wsgi"], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert serves.returncode != 0
    assert "SECRET_KEY" in serves.stderr


def test_production_mode_starts_with_a_real_secret_key():
    result = _settings_check({"DEBUG": "0", "SECRET_KEY": "x" * 60})
    assert result.returncode == 0, result.stderr


def test_non_postgres_database_url_is_refused():
    result = _settings_check({"DATABASE_URL": "sqlite:///tmp/x.db"})
    assert result.returncode != 0 and "PostgreSQL" in result.stderr
