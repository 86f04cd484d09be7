from django.apps import AppConfig


class LifecycleConfig(AppConfig):
    name = "lifecycle"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agentops.navigation import register_badge
        from roi.exports import register_assumptions_context

        from . import panels, tasks  # noqa: F401 - tasks: registered with Celery
        from .exports import stage_history_section
        from .nav import flagged_badge

        panels.register()
        register_badge("lifecycle:board", flagged_badge, title="agents flagged by the lifecycle watch")
        register_assumptions_context(stage_history_section)
