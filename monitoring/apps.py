from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Celery autodiscovers ``<app>.tasks``; monitoring's tasks live in its sub-packages.
        from agentops.extensions import register_all
        from monitoring import extensions
        from monitoring.alerts import tasks as _alert_tasks  # noqa: F401
        from monitoring.dashboards import tasks as _dashboard_tasks  # noqa: F401
        from monitoring.ingest import tasks as _ingest_tasks  # noqa: F401
        from monitoring.rollups import tasks as _rollup_tasks  # noqa: F401
        from monitoring.storage import tasks as _storage_tasks  # noqa: F401

        register_all(extensions.CONTRIBUTIONS)

        from agentops.audit import track
        from agentops.health import register_check
        from monitoring.alerts.models import AlertRule
        from monitoring.intake.services import worker_health

        register_check("worker", worker_health)
        track(AlertRule, label="alert rule", exclude=("updated_at", "created_at"))
