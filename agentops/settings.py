"""Settings come from environment variables only; defaults are safe for development.

See the configuration table in README.md for every variable.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
import plotly
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

DEV_SECRET_KEY = "dev-insecure-secret-key-change-me-for-production-use-only"


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
if not DEBUG and SECRET_KEY == DEV_SECRET_KEY:
    raise ImproperlyConfigured(
        "Refusing to start with DEBUG off and the development SECRET_KEY: set SECRET_KEY to a long random value."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "agentops",
    "monitoring",
    "handoffs",
    "insights",
    "roi",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "agentops.middleware.UserTimezoneMiddleware",
]

ROOT_URLCONF = "agentops.urls"
WSGI_APPLICATION = "agentops.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "agentops.context_processors.navigation",
            ],
        },
    }
]

DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/agentops")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")))}
if not DATABASES["default"]["ENGINE"].endswith("postgresql"):
    raise ImproperlyConfigured("DATABASE_URL must point to PostgreSQL (postgres://...).")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "agentops"),
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
USE_I18N = False
USE_TZ = True  # the database holds UTC; pages show the user's timezone (DISPLAY_TIME_ZONE)
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# plotly.js is served from the plotly package's own file (no CDN): /static/vendor/plotly/plotly.min.js
STATICFILES_DIRS = [BASE_DIR / "static", ("vendor/plotly", str(Path(plotly.__file__).parent / "package_data"))]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "agentops@localhost")

# Celery: Redis is the broker; results are not needed (tasks write to Postgres).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes the database connection after every task unless this is set; the
# connection is recycled like a request's instead (CONN_MAX_AGE, agentops.celery).
CELERY_DB_REUSE_MAX = 1_000_000
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "sweep-inbox": {"task": "monitoring.tasks.sweep_inbox", "schedule": 30.0},
    "evaluate-alerts": {"task": "monitoring.tasks.evaluate_alerts", "schedule": 60.0},
    "expire-leases": {"task": "handoffs.tasks.expire_leases", "schedule": 30.0},
    "wake-pending": {"task": "handoffs.tasks.wake_pending_tickets", "schedule": 60.0},
    "close-resolved": {"task": "handoffs.tasks.close_resolved_tickets", "schedule": 3600.0},
    "prune-rollups": {"task": "monitoring.tasks.prune_rollups", "schedule": 3600.0},
    "prune-inbox": {"task": "monitoring.tasks.prune_inbox", "schedule": 3600.0},
}

# Telemetry intake limits (see docs/telemetry.md).
INTAKE_MAX_BODY_BYTES = int(os.environ.get("INTAKE_MAX_BODY_BYTES", str(8 * 1024 * 1024)))
INTAKE_MAX_DECOMPRESSED_BYTES = int(os.environ.get("INTAKE_MAX_DECOMPRESSED_BYTES", str(32 * 1024 * 1024)))
INTAKE_MAX_PENDING_BATCHES = int(os.environ.get("INTAKE_MAX_PENDING_BATCHES", "5000"))
INTAKE_TEXT_CAP_BYTES = int(os.environ.get("INTAKE_TEXT_CAP_BYTES", "16384"))
# A worker ingests up to this many waiting inbox batches in one transaction (first attempts only):
# the per-transaction work (rollup cells, agent-map edges, tickets, commit) is shared by more spans.
INTAKE_INGEST_GROUP = int(os.environ.get("INTAKE_INGEST_GROUP", "25"))
# A drain_inbox task stops after this many seconds of work and wakes another (bounded task length).
INTAKE_DRAIN_SECONDS = float(os.environ.get("INTAKE_DRAIN_SECONDS", "20"))
# Processed inbox batches (raw request bodies) are deleted this long after processing; pending and
# dead ones are kept until processed or replayed.
INTAKE_DONE_RETENTION_HOURS = float(os.environ.get("INTAKE_DONE_RETENTION_HOURS", "72"))
DATA_UPLOAD_MAX_MEMORY_SIZE = max(INTAKE_MAX_BODY_BYTES + 1024, 2621440)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
