from __future__ import annotations

from django.conf import settings

from .navigation import build_navigation
from .permissions import user_roles


def navigation(request) -> dict:
    """The menu with its badges (a few queries), built once per request: a page that renders panels
    or partials with the request runs the context processors again for each of them."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_sections": [], "user_roles": frozenset(), "site_debug": settings.DEBUG}
    built = getattr(request, "_agentops_navigation", None)
    if built is None or built[0] is not user:
        built = (user, {
            "nav_sections": build_navigation(user, request.path),
            "user_roles": user_roles(user),
            "site_debug": settings.DEBUG,
        })
        request._agentops_navigation = built
    return built[1]
