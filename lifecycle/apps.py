from django.apps import AppConfig


class LifecycleConfig(AppConfig):
    name = "lifecycle"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agentops.extensions import register_all

        from . import tasks  # noqa: F401 - registered with Celery
        from .extensions import CONTRIBUTIONS

        register_all(CONTRIBUTIONS)
