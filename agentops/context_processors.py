from __future__ import annotations

from django.conf import settings

from .navigation import build_navigation
from .permissions import user_roles


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_sections": [], "user_roles": frozenset(), "site_debug": settings.DEBUG}
    return {
        "nav_sections": build_navigation(user, request.path),
        "user_roles": user_roles(user),
        "site_debug": settings.DEBUG,
    }
