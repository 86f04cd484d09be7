"""Roles are Django groups (created by a migration); each view states the roles it admits.

Superusers pass every role check. A signed-out visitor is sent to the sign-in page; a signed-in
user without the role gets the 403 page, which names the role that is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

from .models import ROLE_FINANCE, ROLE_OPERATIONS, ROLE_REVIEWERS

OPERATIONS = ROLE_OPERATIONS
REVIEWERS = ROLE_REVIEWERS
FINANCE = ROLE_FINANCE


def user_roles(user) -> frozenset[str]:
    """The user's role names, cached on the user object for the request."""
    if not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_agentops_roles", None)
    if cached is None:
        if user.is_superuser:
            cached = frozenset((OPERATIONS, REVIEWERS, FINANCE))
        else:
            cached = frozenset(user.groups.values_list("name", flat=True))
        user._agentops_roles = cached
    return cached


def has_role(user, *roles: str) -> bool:
    return bool(user_roles(user) & set(roles))


def role_required(*roles: str, unless: Callable[..., bool] | None = None) -> Callable:
    """Decorator for function views: sign-in required, then any one of ``roles``.

    ``unless(request, *args, **kwargs)`` may admit a user without those roles for this one object
    (a reviewer opening the trace of a ticket's run): the exception is decided per request, and the
    declared roles stay what the permission matrix checks."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not has_role(request.user, *roles) and not (unless and unless(request, *args, **kwargs)):
                raise PermissionDenied(
                    f"This page is for the {' or '.join(roles)} role, which your account does not have."
                )
            return view(request, *args, **kwargs)

        guarded = login_required(wrapped)
        guarded.required_roles = frozenset(roles)  # read by the permission-matrix test
        return guarded

    return decorator
