from django.apps import AppConfig


class HandoffsConfig(AppConfig):
    name = "handoffs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agentops.navigation import register_badge
        from monitoring.dashboards.access import register_run_access, register_session_access
        from monitoring.dashboards.views import register_trace_link

        # Receives monitoring.announcements (escalations -> tickets); see handoffs/receivers.py.
        from . import receivers  # noqa: F401
        from .access import reviewer_may_open_run, reviewer_may_open_session
        from .nav import open_claims_badge, ticket_links_for_run

        register_badge("handoffs:my_tickets", open_claims_badge)
        register_trace_link(ticket_links_for_run)
        register_run_access(reviewer_may_open_run)
        register_session_access(reviewer_may_open_session)
