from django.contrib import admin

from .models import LifecycleSettings, StageCriteria, StageEvent


@admin.register(StageEvent)
class StageEventAdmin(admin.ModelAdmin):
    """Read-only: the history is append-only and written by the lifecycle service."""

    list_display = ["agent", "kind", "from_stage", "to_stage", "actor", "approved_by", "override", "occurred_at"]
    list_filter = ["kind", "to_stage", "override"]
    list_select_related = ["agent", "actor", "approved_by"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


admin.site.register(StageCriteria)
admin.site.register(LifecycleSettings)
