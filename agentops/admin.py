"""Django admin for the registry: a fallback for superusers; day-to-day editing uses the registry pages."""

from __future__ import annotations

from django.contrib import admin

from .models import Agent, ApiKey, Department, ModelPrice, PromptVersion


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["name", "cost_center", "created_at"]
    search_fields = ["name", "cost_center"]


class PromptVersionInline(admin.TabularInline):
    model = PromptVersion
    fields = ["version", "change_note", "is_active", "author", "created_at"]
    readonly_fields = fields  # versions are immutable history; activate through the registry page
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "department", "owner", "lifecycle_stage", "discovered", "model"]
    list_filter = ["lifecycle_stage", "discovered", "department"]
    search_fields = ["name", "slug", "description"]
    list_select_related = ["department", "owner"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [PromptVersionInline]

    def get_readonly_fields(self, request, obj=None):
        # After registration the stage changes only through the lifecycle service (criteria, history).
        return ["lifecycle_stage"] if obj is not None else []


@admin.register(PromptVersion)
class PromptVersionAdmin(admin.ModelAdmin):
    list_display = ["agent", "version", "is_active", "change_note", "author", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["agent__slug", "change_note"]
    list_select_related = ["agent", "author"]
    # Editing is_active here could break "one active version"; the registry's activate action owns it.
    readonly_fields = ["agent", "version", "is_active", "author", "created_at"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["label", "prefix", "agent", "created_by", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["label", "prefix"]
    list_select_related = ["agent", "created_by"]
    # Keys are created on the registry page (the token is shown once there); the hash is never editable.
    readonly_fields = ["prefix", "key_hash", "created_by", "created_at", "last_used_at"]
    actions = ["revoke_keys"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Revoke selected keys")
    def revoke_keys(self, request, queryset) -> None:
        for key in queryset.active():
            key.revoke()


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = ["model_name", "input_per_mtok", "output_per_mtok", "currency", "effective_from", "created_by"]
    list_filter = ["model_name", "currency"]
    search_fields = ["model_name"]
    list_select_related = ["created_by"]
