from django.apps import AppConfig


class InsightsConfig(AppConfig):
    """Root causes, failure groups, prompt drafts and version comparison, the agent map.

    Above handoffs: it reads tickets (reviewers' root causes, drafts from tickets) by ordinary import."""

    name = "insights"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agentops.extensions import register_all
        from insights.extensions import CONTRIBUTIONS

        register_all(CONTRIBUTIONS)
