"""Department scoping: a user limited to some departments sees only their agents and what hangs off
them (runs, tickets, ROI rows). A user without ``UserDepartment`` rows, and a superuser, is not
limited. Pages apply ``scope_agents`` (or filter by ``department_ids``) to what they list, and answer
404 for a single object outside the scope (``require_agent``), so an address cannot be guessed past it.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from .models import UserDepartment


def department_ids(user) -> frozenset[int] | None:
    """The departments ``user`` is limited to, or None for no limit. Cached on the user object."""
    if user is None or not getattr(user, "is_authenticated", False) or user.is_superuser:
        return None
    cached = getattr(user, "_agentops_departments", ...)
    if cached is ...:
        ids = frozenset(UserDepartment.objects.filter(user_id=user.pk).values_list("department_id", flat=True))
        cached = ids or None
        user._agentops_departments = cached
    return cached


def scope_agents(queryset: QuerySet, user, field: str = "department_id") -> QuerySet:
    """``queryset`` of agents (or of rows whose ``field`` path names the agent's department)."""
    ids = department_ids(user)
    return queryset if ids is None else queryset.filter(**{f"{field}__in": ids})


def allows_agent(user, agent) -> bool:
    ids = department_ids(user)
    return ids is None or (agent is not None and agent.department_id in ids)


def require_agent(user, agent) -> None:
    """404 (not 403: the object's existence is not confirmed) for an agent outside the user's scope."""
    if not allows_agent(user, agent):
        raise Http404("There is nothing at this address.")
