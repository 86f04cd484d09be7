"""Admin: the ledger is read-only here (changes go through the ledger page, which records a reason)."""

from django.contrib import admin

from .models import AssumptionRow, Budget


@admin.register(AssumptionRow)
class AssumptionRowAdmin(admin.ModelAdmin):
    list_display = ("kind", "agent", "department", "currency", "value_low", "value_base", "value_high",
                    "effective_from", "changed_by", "changed_at")
    list_filter = ("kind",)
    search_fields = ("reason", "agent__name", "department__name")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = ("month", "agent", "department", "amount", "currency", "set_by", "updated_at")
    list_filter = ("month",)
