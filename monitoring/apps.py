from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Celery autodiscovers monitoring/tasks.py only; register the live-monitoring tasks too.
        from . import (
            alert_tasks,  # noqa: F401
            panels,
        )

        panels.register()
