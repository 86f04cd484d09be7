"""Health checks for /healthz: the database, Redis, and checks other apps register.

A check returns a dict with a ``status`` ("ok", "degraded" or "error") and any details. Only the
database makes the endpoint answer 503: without Redis the intake still accepts into the inbox, so a
load balancer must keep sending traffic; the body says what is degraded.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.cache import cache
from django.db import connection

_CHECKS: dict[str, Callable[[], dict]] = {}


def register_check(name: str, check: Callable[[], dict]) -> None:
    _CHECKS[name] = check


def database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"status": "ok"}
    except Exception as exc:  # noqa: BLE001 - report, never crash the health check
        return {"status": "error", "detail": exc.__class__.__name__}


def redis() -> dict:
    try:
        client = cache._cache.get_client(write=True)  # the cache's own connection pool
        client.ping()
        return {"status": "ok"}
    except Exception as exc:  # noqa: BLE001
        return {"status": "error", "detail": exc.__class__.__name__}


def report() -> tuple[dict, bool]:
    """(body, healthy): healthy unless the database is unreachable."""
    checks = {"database": database(), "redis": redis()}
    for name, check in _CHECKS.items():
        try:
            checks[name] = check() if checks["database"]["status"] == "ok" else {"status": "unknown"}
        except Exception as exc:  # noqa: BLE001
            checks[name] = {"status": "error", "detail": exc.__class__.__name__}
    healthy = checks["database"]["status"] == "ok"
    overall = "ok" if all(c.get("status") == "ok" for c in checks.values()) else ("degraded" if healthy else "error")
    return {"status": overall, **checks}, healthy
