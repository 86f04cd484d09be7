"""Per-user remembered choices (agentops.models.UserPreference): read with a default, written when the
user changes them. One row per user and key."""

from __future__ import annotations

from .models import UserPreference

SHOW_INACTIVE_AGENTS = "show_inactive_agents"  # retired, archived and test agents on the overview


def get_preference(user, key: str, default=None):
    if not user.is_authenticated:
        return default
    row = UserPreference.objects.filter(user=user, key=key).values_list("value", flat=True).first()
    return default if row is None else row.get("value", default)


def set_preference(user, key: str, value) -> None:
    if user.is_authenticated:
        UserPreference.objects.update_or_create(user=user, key=key, defaults={"value": {"value": value}})


def remembered_flag(request, param: str, key: str, default: bool = False) -> bool:
    """A yes/no filter taken from the query when the form sent it (``param`` = 1/0, remembered for
    next time), else the user's remembered choice."""
    if param in request.GET:
        value = request.GET.get(param) in ("1", "on", "true", "yes")
        if value != get_preference(request.user, key, default):
            set_preference(request.user, key, value)
        return value
    return bool(get_preference(request.user, key, default))
