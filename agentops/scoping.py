"""Department scoping: a user limited to some departments sees only their agents and what hangs off
them (runs, tickets, ROI rows). A user without ``UserDepartment`` rows, and a superuser, is not
limited. Pages apply ``scope_agents`` (or filter by ``department_ids``) to what they list, and answer
404 for a single object outside the scope (``require_agent``), so an address cannot be guessed past it.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404

from .models import Agent, Department, UserDepartment


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


def scope_q(user, field: str = "agent__department_id", *, keep_null: str | None = None) -> Q:
    """A filter for rows hanging off an agent (``field`` names the agent's department); ``keep_null``
    names a path whose NULL means "not tied to an agent" (shared rows, kept). Q() when not limited."""
    ids = department_ids(user)
    if ids is None:
        return Q()
    q = Q(**{f"{field}__in": ids})
    return q | Q(**{f"{keep_null}__isnull": True}) if keep_null else q


def scope_rows(queryset: QuerySet, user, field: str = "agent__department_id", *, keep_null: str | None = None) -> QuerySet:
    return queryset.filter(scope_q(user, field, keep_null=keep_null))


def allowed_agent_ids(user) -> set[int] | None:
    """Ids of the agents ``user`` may see, or None for no limit."""
    ids = department_ids(user)
    if ids is None:
        return None
    return set(Agent.objects.filter(department_id__in=ids).values_list("pk", flat=True))


def scope_form(form, user):
    """Narrow every choice field of ``form`` to the user's departments: agents, departments, and rows
    tied to an agent (prompt versions, endpoints, datasets; rows with no agent are shared and stay)."""
    if department_ids(user) is None:
        return form
    for field in form.fields.values():
        queryset = getattr(field, "queryset", None)
        if queryset is None:
            continue
        model = queryset.model
        if model is Agent:
            field.queryset = scope_agents(queryset, user)
        elif model is Department:
            field.queryset = scope_agents(queryset, user, "pk")
        elif _agent_fk(model):
            field.queryset = scope_rows(queryset, user, keep_null="agent" if _agent_fk(model).null else None)
    return form


def _agent_fk(model):
    try:
        field = model._meta.get_field("agent")
    except Exception:  # noqa: BLE001 - FieldDoesNotExist: not tied to an agent
        return None
    return field if getattr(field, "related_model", None) is Agent else None


def require_row(user, row, field: str = "agent") -> None:
    """404 for a row tied (through ``field``) to an agent outside the user's scope; a row with no agent
    is shared and allowed."""
    agent = getattr(row, field, None)
    if agent is not None:
        require_agent(user, agent)


def require_unscoped(user) -> None:
    """404 for a user limited to departments: pages that manage every department (users and their
    scopes) do not exist for them."""
    if department_ids(user) is not None:
        raise Http404("There is nothing at this address.")
