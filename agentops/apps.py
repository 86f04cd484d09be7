from django.apps import AppConfig


class AgentopsConfig(AppConfig):
    name = "agentops"
    verbose_name = "Agent registry"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import serving  # noqa: F401 - registers the deploy check on the SECRET_KEY
        from .audit import track_registry

        track_registry()

        from .navigation import register_navigation

        register_navigation()
