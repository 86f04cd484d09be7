from django.apps import AppConfig


class RoiConfig(AppConfig):
    name = "roi"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agentops.audit import track
        from agentops.extensions import register_all

        from . import receivers  # noqa: F401 - archives run figures before telemetry retention drops runs
        from .extensions import CONTRIBUTIONS
        from .models import AssumptionRow, Budget

        # ROI settings in the audit log (the ledger also keeps its own who/why per row).
        track(AssumptionRow, label="ROI assumption")
        track(Budget, label="ROI budget", exclude=("updated_at",))
        register_all(CONTRIBUTIONS)
