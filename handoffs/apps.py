from django.apps import AppConfig


class HandoffsConfig(AppConfig):
    name = "handoffs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agentops.navigation import register_badge
        from monitoring.dashboards.views import register_trace_link

        # Receives monitoring.announcements (escalations -> tickets); see handoffs/receivers.py.
        from . import receivers  # noqa: F401
        from .nav import open_claims_badge, ticket_links_for_run

        register_badge("handoffs:my_tickets", open_claims_badge)
        register_trace_link(ticket_links_for_run)
