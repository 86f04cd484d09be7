from django.apps import AppConfig


class HandoffsConfig(AppConfig):
    name = "handoffs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agentops.extensions import register_all
        from monitoring.dashboards.access import register_run_access, register_session_access

        # Receives monitoring.announcements (escalations -> tickets); see handoffs/receivers.py.
        from . import receivers  # noqa: F401
        from .access import reviewer_may_open_run, reviewer_may_open_session
        from .extensions import CONTRIBUTIONS

        register_all(CONTRIBUTIONS)
        register_run_access(reviewer_may_open_run)
        register_session_access(reviewer_may_open_session)
