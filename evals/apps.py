from django.apps import AppConfig


class EvalsConfig(AppConfig):
    name = "evals"
    verbose_name = "Evals: datasets, evaluators, experiments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agentops.extensions import register_all

        from . import receivers
        from .extensions import CONTRIBUTIONS

        receivers.connect()
        register_all(CONTRIBUTIONS)
