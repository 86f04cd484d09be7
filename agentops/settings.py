"""Settings come from environment variables only; defaults are safe for production (DEBUG off).

Development, the demo and the tests turn DEBUG on explicitly (``DEBUG=1``).

See the configuration table in README.md for every variable.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
import plotly
from django.core.exceptions import ImproperlyConfigured

from agentops.csp import DEFAULT_POLICY as DEFAULT_CSP
from agentops.serving import DEV_SECRET_KEY

BASE_DIR = Path(__file__).resolve().parent.parent



def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
# The development key is accepted here so that administration commands (migrate, makemigrations,
# check) run with no environment; serving with it and DEBUG off is refused (agentops.serving).
SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
# Decided from the environment at start-up (a test runner that turns DEBUG off afterwards does not change it).
REFUSE_TO_SERVE = not DEBUG and SECRET_KEY == DEV_SECRET_KEY

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
    "axes",
    "mozilla_django_oidc",
    "agentops",
    "monitoring",
    "handoffs",
    "insights",
    "evals",
    "roi",
    "lifecycle",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "agentops.csp.ContentSecurityPolicyMiddleware",
    "agentops.middleware.RefuseNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "agentops.audit.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "agentops.middleware.UserTimezoneMiddleware",
    # Last: it turns a locked-out sign-in into the page that explains the lock (see agentops.signin).
    "axes.middleware.AxesMiddleware",
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
        # Tagged JSON instead of pickle: a value written to Redis can never run code when read.
        "OPTIONS": {"serializer": "agentops.cache_serializer.JSONSerializer"},
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one user name, or
# from one address, sign-in is refused with a message until the cool-off ends or operations unlock it
# (Registry > Sign-in locks). Behind a proxy set AXES_IPWARE_PROXY_COUNT so the client's address is used.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("AXES_COOLOFF_MINUTES", "15")) / 60 or None  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "agentops.signin.locked_out"
AXES_IPWARE_PROXY_COUNT = int(os.environ.get("AXES_IPWARE_PROXY_COUNT", "0")) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
)
AXES_VERBOSE = False

# Single sign-on with OpenID Connect (mozilla-django-oidc), on when OIDC_RP_CLIENT_ID is set; local
# accounts keep working. The identity provider's groups map to roles (and departments): see
# agentops.sso and docs/operations.md, "Single sign-on".
OIDC_RP_CLIENT_ID = os.environ.get("OIDC_RP_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = os.environ.get("OIDC_RP_CLIENT_SECRET", "")
OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID)
OIDC_PROVIDER_NAME = os.environ.get("OIDC_PROVIDER_NAME", "single sign-on")
OIDC_OP_AUTHORIZATION_ENDPOINT = os.environ.get("OIDC_OP_AUTHORIZATION_ENDPOINT", "")
OIDC_OP_TOKEN_ENDPOINT = os.environ.get("OIDC_OP_TOKEN_ENDPOINT", "")
OIDC_OP_USER_ENDPOINT = os.environ.get("OIDC_OP_USER_ENDPOINT", "")
OIDC_OP_JWKS_ENDPOINT = os.environ.get("OIDC_OP_JWKS_ENDPOINT", "")
OIDC_RP_SIGN_ALGO = os.environ.get("OIDC_RP_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = os.environ.get("OIDC_RP_SCOPES", "openid email profile groups")
OIDC_GROUPS_CLAIM = os.environ.get("OIDC_GROUPS_CLAIM", "groups")
# "idp-group=Role" pairs, comma separated; a role is Operations, Reviewers or Finance.
OIDC_ROLE_GROUPS = os.environ.get("OIDC_ROLE_GROUPS", "")
# "idp-group=department-slug" pairs: members are scoped to those departments.
OIDC_DEPARTMENT_GROUPS = os.environ.get("OIDC_DEPARTMENT_GROUPS", "")
OIDC_CREATE_USER = True
OIDC_USERNAME_ALGO = "agentops.sso.username_for"
LOGIN_REDIRECT_URL_FAILURE = "/login/?sso=failed"
OIDC_TIMEOUT = float(os.environ.get("OIDC_TIMEOUT", "10"))  # seconds per call to the provider

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out user before any password check
    "django.contrib.auth.backends.ModelBackend",
] + (["agentops.sso.RoleMappingOIDCBackend"] if OIDC_ENABLED else [])

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
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# HTTPS in production: TLS ends at a proxy in front of gunicorn, which must set X-Forwarded-Proto
# (and strip it from clients). /healthz stays plain HTTP for the container's own health check.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else str(365 * 24 * 3600)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
if env_bool("SECURE_PROXY_SSL_HEADER", not DEBUG):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Scripts only from our static files (agentops.csp); CONTENT_SECURITY_POLICY="" turns the header off.
CONTENT_SECURITY_POLICY = os.environ.get("CONTENT_SECURITY_POLICY", DEFAULT_CSP)

# Outbound calls to user-given URLs (alert webhooks, evals endpoints) may not reach private, loopback
# or link-local addresses unless listed here: host names, addresses or networks (CIDR), each optionally
# with ":port", comma separated (agentops.outbound).
OUTBOUND_ALLOWED_HOSTS = env_list("OUTBOUND_ALLOWED_HOSTS", "")

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
    # Announcements a dead process left undelivered, and failed deliveries due for a retry.
    "deliver-announcements": {"task": "monitoring.tasks.deliver_announcements", "schedule": 30.0},
    "evaluate-alerts": {"task": "monitoring.tasks.evaluate_alerts", "schedule": 60.0},
    "expire-leases": {"task": "handoffs.tasks.expire_leases", "schedule": 30.0},
    "wake-pending": {"task": "handoffs.tasks.wake_pending_tickets", "schedule": 60.0},
    "close-resolved": {"task": "handoffs.tasks.close_resolved_tickets", "schedule": 3600.0},
    "prune-rollups": {"task": "monitoring.tasks.prune_rollups", "schedule": 3600.0},
    "prune-inbox": {"task": "monitoring.tasks.prune_inbox", "schedule": 3600.0},
    "sweep-experiments": {"task": "evals.tasks.sweep_experiments", "schedule": 60.0},
    "watch-lifecycle": {"task": "lifecycle.tasks.watch_lifecycle", "schedule": 3600.0},
    "maintain-partitions": {"task": "monitoring.tasks.maintain_partitions", "schedule": 3600.0},
    # The dashboards' settled summaries filled before the first poll after an hour boundary or late data.
    "warm-dashboards": {"task": "monitoring.tasks.warm_dashboards", "schedule": 60.0},
}

# Raw telemetry (runs, steps, scores, escalations, agent-map edges) is kept this many days, in one
# partition per UTC day; older days are dropped whole. Rollup cells outlive it (docs/operations.md).
TELEMETRY_RETENTION_DAYS = int(os.environ.get("TELEMETRY_RETENTION_DAYS", "30"))
# Day partitions are created this many days ahead (rows beyond wait in the default partition).
TELEMETRY_PARTITION_DAYS_AHEAD = int(os.environ.get("TELEMETRY_PARTITION_DAYS_AHEAD", "3"))
# Ingest finds a trace's stored run among runs starting this close to the new spans (a bounded
# lookup over a few day partitions). A trace whose spans arrive further apart gets a second run.
TELEMETRY_TRACE_WINDOW_HOURS = float(os.environ.get("TELEMETRY_TRACE_WINDOW_HOURS", "24"))

# Telemetry intake limits (see docs/telemetry.md).
INTAKE_MAX_BODY_BYTES = int(os.environ.get("INTAKE_MAX_BODY_BYTES", str(8 * 1024 * 1024)))
INTAKE_MAX_DECOMPRESSED_BYTES = int(os.environ.get("INTAKE_MAX_DECOMPRESSED_BYTES", str(32 * 1024 * 1024)))
INTAKE_MAX_PENDING_BATCHES = int(os.environ.get("INTAKE_MAX_PENDING_BATCHES", "5000"))
# A JSON body is decoded with far more CPU and memory per byte than protobuf: its own, lower cap.
INTAKE_MAX_JSON_BYTES = int(os.environ.get("INTAKE_MAX_JSON_BYTES", str(8 * 1024 * 1024)))
INTAKE_MAX_SPANS_PER_REQUEST = int(os.environ.get("INTAKE_MAX_SPANS_PER_REQUEST", "10000"))
# Per API key (0 turns a limit off): unprocessed batches, and spans accepted per minute.
INTAKE_KEY_MAX_PENDING_BATCHES = int(os.environ.get("INTAKE_KEY_MAX_PENDING_BATCHES", "1000"))
INTAKE_KEY_SPANS_PER_MINUTE = int(os.environ.get("INTAKE_KEY_SPANS_PER_MINUTE", "600000"))
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
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}

# Evals (docs/evals.md): the Fernet key that encrypts model-endpoint API keys (default: derived from
# SECRET_KEY), the experiment defaults, and online evaluation's cap on runs per task.
EVALS_ENCRYPTION_KEY = os.environ.get("EVALS_ENCRYPTION_KEY", "")
EVALS_DEFAULT_CONCURRENCY = int(os.environ.get("EVALS_DEFAULT_CONCURRENCY", "4"))
EVALS_SLOT_SECONDS = float(os.environ.get("EVALS_SLOT_SECONDS", "60"))
