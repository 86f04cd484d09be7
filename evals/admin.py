"""Read-mostly admin views of evals rows. Endpoints are edited on the Model endpoints page (the
API key goes through the encrypting service there); the admin never shows or edits the key."""

from django.contrib import admin

from .models import Dataset, Endpoint, Evaluator, Experiment, OnlineEvaluation


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "base_url", "model", "agent", "api_key_hint", "is_demo"]
    readonly_fields = ["api_key_hint"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "agent", "version", "updated_at"]
    readonly_fields = ["version"]


@admin.register(Evaluator)
class EvaluatorAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "judge_endpoint"]


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    list_display = ["name", "dataset", "dataset_version", "prompt_version", "endpoint", "status", "case_count",
                    "created_at"]
    list_filter = ["status"]

    def has_add_permission(self, request) -> bool:
        return False  # experiments start from the Experiments page (items and slots are created there)


@admin.register(OnlineEvaluation)
class OnlineEvaluationAdmin(admin.ModelAdmin):
    list_display = ["agent", "evaluator", "sample_percent", "max_per_minute", "enabled"]
