"""Production defaults: DEBUG off unless asked, HTTPS settings, check --deploy clean with the compose
environment, no database password in docker-compose.yml, full password validators, no pickle in the
cache, seed_demo refuses production."""

from __future__ import annotations

import os
import pickle
import re
import secrets
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import redis
import yaml
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from agentops.cache_serializer import JSONSerializer

ROOT = Path(__file__).resolve().parents[2]
_COMPOSE_VAR = re.compile(r"\$\{(\w+)(?::([?-])([^}]*))?\}")


def _bare_env() -> dict[str, str]:
    """Only the process basics of this machine's environment: no product or test setting leaks in."""
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH"}
    return {k: v for k, v in os.environ.items() if k in keep}


def _compose_environment(values: dict[str, str]) -> dict[str, str]:
    """x-app's environment with ${VAR...} filled as docker compose does from an .env file."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = {}
    for name, raw in compose["x-app"]["environment"].items():
        def fill(match: re.Match) -> str:
            var, kind, rest = match.groups()
            if var in values:
                return values[var]
            if kind == "?":
                raise AssertionError(f"compose requires {var}")
            return rest if kind == "-" else ""
        env[name] = _COMPOSE_VAR.sub(fill, str(raw))
    return env


def test_debug_is_off_unless_asked_for():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"],
        cwd=ROOT, env={**_bare_env(), "SECRET_KEY": secrets.token_urlsafe(50),
                       "DJANGO_SETTINGS_MODULE": "agentops.settings"},
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_check_deploy_reports_nothing_with_the_compose_environment():
    env = _compose_environment({"SECRET_KEY": secrets.token_urlsafe(50), "POSTGRES_PASSWORD": secrets.token_hex(16)})
    env["DATABASE_URL"] = env["DATABASE_URL"].replace("@postgres:", "@127.0.0.1:")  # no connection is made
    env["REDIS_URL"] = "redis://127.0.0.1:6379/15"
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env={**_bare_env(), **env}, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_compose_holds_no_database_password():
    text = (ROOT / "docker-compose.yml").read_text()
    compose = yaml.safe_load(text)
    assert "${POSTGRES_PASSWORD" in compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert "${POSTGRES_PASSWORD" in compose["x-app"]["environment"]["DATABASE_URL"]
    assert (ROOT / ".env.example").exists() and ".env" in (ROOT / ".gitignore").read_text().split()


def test_production_settings_require_https(settings):
    env = _compose_environment({"SECRET_KEY": "k" * 60, "POSTGRES_PASSWORD": "p"})
    code = ("import django; django.setup(); from django.conf import settings as s; "
            "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
            "s.SECURE_PROXY_SSL_HEADER)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env={**_bare_env(), **env, "DJANGO_SETTINGS_MODULE": "agentops.settings"})
    assert result.returncode == 0, result.stderr
    redirect, hsts, session_secure, csrf_secure, proxy = result.stdout.strip().split(" ", 4)
    assert (redirect, session_secure, csrf_secure) == ("True", "True", "True")
    assert int(hsts) >= 31536000
    assert "HTTP_X_FORWARDED_PROTO" in proxy


@pytest.mark.django_db
@pytest.mark.parametrize("password", ["1234567890123456", "olivia-manager", "short-pw1"])
def test_weak_passwords_are_refused(password):
    user = User(username="olivia-manager", email="olivia@example.com", first_name="Olivia")
    with pytest.raises(ValidationError):
        validate_password(password, user)


@pytest.mark.django_db
def test_seed_demo_refuses_with_debug_off():
    assert not settings.DEBUG
    with pytest.raises(CommandError, match="--force"):
        call_command("seed_demo")


class _Exploit:
    ran = False

    def __reduce__(self):
        return (_mark_ran, ())


def _mark_ran():
    _Exploit.ran = True
    return "exploited"


def test_the_cache_never_unpickles_what_redis_holds():
    cache.set("security:probe", "x")
    raw = redis.Redis.from_url(settings.REDIS_URL)
    key = cache.make_key("security:probe")
    raw.set(key, pickle.dumps(_Exploit()))
    with pytest.raises(ValueError):
        cache.get("security:probe")
    assert not _Exploit.ran
    cache.delete("security:probe")


def test_the_cache_keeps_plain_data_exactly():
    value = {(3, True): (5, 1, 0, Decimal("1.50"), 2, Decimal("0.000123"), 10, 20, {"12": 3}),
             (None, False): (0,), "when": datetime(2026, 3, 1, tzinfo=UTC), "tags": {"a"}, "raw": b"\x00\xff"}
    cache.set("security:plain", value)
    assert cache.get("security:plain") == value
    cache.set("security:count", 1)
    assert cache.incr("security:count") == 2
    assert JSONSerializer().loads(JSONSerializer().dumps([1, "x"])) == [1, "x"]


# With no environment at all: administration commands run, serving is refused.
def _test_database_url() -> str:
    """The suite's own database (it exists on a clean machine, where the configured one may not)."""
    from django.db import connection

    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _unconfigured(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**_bare_env(), "DATABASE_URL": _test_database_url(), "REDIS_URL": "redis://127.0.0.1:6379/15"}
    return subprocess.run(list(args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


REFUSAL = "Refusing to serve with DEBUG off and the development SECRET_KEY"


@pytest.mark.django_db  # the suite's database exists for `migrate --plan` to read
@pytest.mark.parametrize("command", [["makemigrations", "--check", "--dry-run"], ["check"], ["migrate", "--plan"]])
def test_administration_commands_run_with_no_environment(command):
    result = _unconfigured(sys.executable, "manage.py", *command)
    assert result.returncode == 0, result.stdout + result.stderr
    assert REFUSAL not in result.stderr


def test_runserver_is_refused_with_debug_off_and_the_development_key():
    result = _unconfigured(sys.executable, "manage.py", "runserver", "127.0.0.1:0", "--noreload")
    assert result.returncode != 0 and REFUSAL in result.stderr


def test_the_wsgi_and_asgi_applications_refuse_the_development_key():
    for module in ("agentops.wsgi", "agentops.asgi"):
        result = _unconfigured(sys.executable, "-c", f"import {module}")
        assert result.returncode != 0 and REFUSAL in result.stderr, module


def test_a_celery_worker_refuses_the_development_key():
    celery = str(Path(sys.executable).parent / "celery")
    result = _unconfigured(celery, "-A", "agentops", "worker", "--pool", "solo", "-Q", "refused-test")
    assert result.returncode != 0 and REFUSAL in result.stdout + result.stderr


def test_check_deploy_reports_the_development_key_as_an_error():
    result = _unconfigured(sys.executable, "manage.py", "check", "--deploy")
    assert result.returncode != 0 and "agentops.E001" in result.stderr


def test_a_real_secret_key_serves():
    result = subprocess.run(
        [sys.executable, "-c", "import agentops.wsgi"], cwd=ROOT, capture_output=True, text=True,
        env={**_bare_env(), "SECRET_KEY": secrets.token_urlsafe(50), "DATABASE_URL": settings.DATABASE_URL},
    )
    assert result.returncode == 0, result.stderr
