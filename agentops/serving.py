"""Refuse to serve with DEBUG off and the development SECRET_KEY.

The key signs sessions, CSRF tokens and password-reset links, and the development one is public. It
is accepted for everything that does not serve users (``migrate``, ``makemigrations``, ``check``,
``shell``, other management commands), so those work with no environment set. What serves is
refused: the WSGI/ASGI application (gunicorn, uvicorn), ``manage.py runserver``, a Celery worker or
beat; and ``check --deploy`` reports it as an error.
"""

from __future__ import annotations

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

DEV_SECRET_KEY = "dev-insecure-secret-key-change-me-for-production-use-only"

# manage.py commands that serve requests (the others are administration and may run unconfigured).
SERVING_COMMANDS = frozenset({"runserver", "runserver_plus", "testserver"})


def insecure_reason() -> str | None:
    """Why serving is refused with the current settings, or None when it may serve."""
    if getattr(settings, "REFUSE_TO_SERVE", False) and settings.SECRET_KEY == DEV_SECRET_KEY:
        return ("Refusing to serve with DEBUG off and the development SECRET_KEY: set SECRET_KEY to a long "
                "random value (or DEBUG=1 for development).")
    return None


def refuse_insecure_serving() -> None:
    if reason := insecure_reason():
        raise ImproperlyConfigured(reason)


def refuse_serving_command(argv: list[str]) -> None:
    """For manage.py: exit with the reason when ``argv`` runs a serving command in an insecure setup."""
    if len(argv) > 1 and argv[1] in SERVING_COMMANDS and (reason := insecure_reason()):
        raise SystemExit(reason)


@checks.register(checks.Tags.security, deploy=True)
def check_secret_key(app_configs=None, **_kwargs) -> list[checks.CheckMessage]:
    reason = insecure_reason()
    return [checks.Error(reason, id="agentops.E001")] if reason else []
