from django.apps import AppConfig


class HandoffsConfig(AppConfig):
    name = "handoffs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Subscribes to monitoring.signals (escalations -> tickets); see handoffs/receivers.py.
        from . import receivers  # noqa: F401
