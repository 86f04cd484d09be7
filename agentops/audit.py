"""The audit log: who changed which configuration, when, and what it was before and after.

Models are registered with ``track(Model, ...)`` (registry models here, alert rules and ROI settings
by their own apps' ``ready()``): every save and delete through the ORM, from a page, the admin or a
command, writes one ``AuditEvent`` with the tracked fields before and after. Writes that bypass
``save()`` (a queryset ``update``) call ``record`` themselves. The actor comes from the request
(``AuditActorMiddleware``) or ``acting_as(user)``; none means the system (telemetry, a task).

Events are written in the same transaction as the change, so a rolled-back change leaves no event.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from .models import AuditEvent

_actor: contextvars.ContextVar[Any] = contextvars.ContextVar("audit_actor", default=None)
_TRACKED: dict[type[models.Model], tuple[str, tuple[str, ...]]] = {}


def current_actor():
    return _actor.get()


@contextmanager
def acting_as(user) -> Iterator[None]:
    token = _actor.set(user if user is not None and getattr(user, "is_authenticated", False) else None)
    try:
        yield
    finally:
        _actor.reset(token)


class AuditActorMiddleware:
    """Changes made while serving a request are attributed to its signed-in user."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with acting_as(getattr(request, "user", None)):
            return self.get_response(request)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, models.Model):
        return str(value.pk)
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def snapshot(instance: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    return {name: _plain(getattr(instance, name)) for name in fields}


def record(action: str, obj: models.Model | None = None, *, object_type: str = "", object_id: Any = "",
           object_repr: str = "", before: dict | None = None, after: dict | None = None, actor=None) -> AuditEvent:
    """Append one event. ``obj`` fills type, id and description unless they are given."""
    actor = actor if actor is not None else current_actor()
    if obj is not None:
        object_type = object_type or _TRACKED.get(type(obj), (obj._meta.model_name, ()))[0]
        object_id = object_id or obj.pk
        object_repr = object_repr or str(obj)
    return AuditEvent.objects.create(
        actor_id=getattr(actor, "pk", None), actor_name=actor.get_username() if actor is not None else "",
        action=action, object_type=object_type, object_id=str(object_id or "")[:64],
        object_repr=str(object_repr)[:300], before=before, after=after,
    )


def _fields_of(model: type[models.Model], include: Iterable[str] | None, exclude: Iterable[str]) -> tuple[str, ...]:
    if include is not None:
        return tuple(include)
    skip = set(exclude) | {"id"}
    return tuple(f.attname for f in model._meta.concrete_fields if f.name not in skip and f.attname not in skip)


def _before_save(sender, instance, raw=False, **kwargs) -> None:
    if raw or instance.pk is None or instance._state.adding:
        instance._audit_before = None
        return
    _label, fields = _TRACKED[sender]
    old = sender._default_manager.filter(pk=instance.pk).values(*fields).first()
    instance._audit_before = {k: _plain(v) for k, v in old.items()} if old else None


def _after_save(sender, instance, created, raw=False, **kwargs) -> None:
    if raw:
        return
    _label, fields = _TRACKED[sender]
    after = snapshot(instance, fields)
    before = getattr(instance, "_audit_before", None)
    if created or before is None:
        record("created", instance, after=after)
    elif before != after:
        changed = [k for k in fields if before.get(k) != after.get(k)]
        record("changed", instance, before={k: before.get(k) for k in changed}, after={k: after[k] for k in changed})


def _after_delete(sender, instance, **kwargs) -> None:
    _label, fields = _TRACKED[sender]
    record("deleted", instance, before=snapshot(instance, fields))


def track(model: type[models.Model], *, label: str | None = None, include: Iterable[str] | None = None,
          exclude: Iterable[str] = ()) -> None:
    """Audit every save and delete of ``model`` (the tracked fields: ``include``, or all but ``exclude``)."""
    _TRACKED[model] = (label or model._meta.verbose_name, _fields_of(model, include, exclude))
    uid = f"audit:{model._meta.label}"
    pre_save.connect(_before_save, sender=model, dispatch_uid=uid)
    post_save.connect(_after_save, sender=model, dispatch_uid=uid)
    post_delete.connect(_after_delete, sender=model, dispatch_uid=uid)


def _roles_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    if action not in {"post_add", "post_remove", "post_clear", "pre_clear"} or reverse:
        return
    if action == "pre_clear":
        instance._audit_roles = sorted(instance.groups.values_list("name", flat=True))
        return
    from django.contrib.auth.models import Group

    names = sorted(Group.objects.filter(pk__in=pk_set or ()).values_list("name", flat=True))
    if action == "post_add":
        record("roles added", instance, object_type="user", after={"roles": names})
    elif action == "post_remove":
        record("roles removed", instance, object_type="user", before={"roles": names})
    else:
        record("roles removed", instance, object_type="user", before={"roles": getattr(instance, "_audit_roles", [])})


def track_registry() -> None:
    """Called from AgentopsConfig.ready(): the registry's own models, users and their roles."""
    from .models import Agent, ApiKey, Department, ModelPrice, PromptRollout, PromptVersion, UserDepartment

    track(Agent, label="agent", exclude=("updated_at", "created_at"))
    track(Department, label="department", exclude=("created_at",))
    track(PromptVersion, label="prompt version", include=("agent_id", "version", "change_note", "is_active"))
    track(PromptRollout, label="prompt rollout", include=("agent_id", "candidate_id", "share"))
    track(ApiKey, label="API key", include=("label", "agent_id", "prefix", "revoked_at"))
    track(ModelPrice, label="model price", exclude=("created_by",))
    track(UserDepartment, label="user department scope", include=("user_id", "department_id"))
    user_model = get_user_model()
    track(user_model, label="user",
          include=("username", "email", "first_name", "last_name", "is_active", "is_staff", "is_superuser"))
    m2m_changed.connect(_roles_changed, sender=user_model.groups.through, dispatch_uid="audit:user-roles")
