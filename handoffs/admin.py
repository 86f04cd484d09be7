from django.contrib import admin

from .models import Queue, RootCause, Ticket, TicketEvent


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = ["name", "position", "is_default", "is_active", "sla_claim_minutes", "sla_resolve_minutes"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["agents"]


@admin.register(RootCause)
class RootCauseAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "position", "is_active"]


class EventInline(admin.TabularInline):
    model = TicketEvent
    extra = 0
    can_delete = False
    readonly_fields = ["kind", "actor", "at", "from_status", "to_status", "note", "data"]

    def has_add_permission(self, request, obj=None) -> bool:  # append-only: written by services only
        return False


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    """Read-only: transitions must go through handoffs.services (versions, leases, event log)."""

    list_display = ["id", "queue", "agent", "status", "assignee", "priority", "created_at", "resolved_at"]
    list_filter = ["status", "queue", "outcome"]
    list_select_related = ["queue", "agent", "assignee"]
    inlines = [EventInline]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request) -> bool:
        return False
