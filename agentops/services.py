"""Registry writes that touch more than one row or must hold a lock. Each owns its transaction."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from . import audit
from .models import Agent, ApiKey, Department, ModelPrice, PromptEvent, PromptRollout, PromptVersion


class RegistryError(Exception):
    """A registry rule was broken; the message is safe to show to the user."""


def _lock_agent(agent: Agent) -> Agent:
    # Serialises prompt writes per agent: version numbering and activation both read-then-write.
    return Agent.objects.select_for_update().get(pk=agent.pk)


def _prompt_event(kind: str, prompt: PromptVersion, share: int | None = None, user=None) -> PromptEvent:
    """Append to the agent's prompt history (the caller holds the agent's lock)."""
    actor = user if user is not None else audit.current_actor()
    return PromptEvent.objects.create(agent_id=prompt.agent_id, prompt=prompt, version=prompt.version, kind=kind,
                                      share=share, actor=actor if getattr(actor, "pk", None) else None)


@transaction.atomic
def activate_prompt_version(prompt: PromptVersion) -> PromptVersion:
    """Make ``prompt`` its agent's only active version.

    Others are deactivated first, in the same transaction, so the partial unique constraint
    (one active version per agent) never sees two active rows.
    """
    _lock_agent(prompt.agent)
    # Activating any version ends a rollout: either the candidate won (promote) or the team chose
    # a version outright, and a split against a new active version was never reviewed.
    for rollout in PromptRollout.objects.select_related("candidate").filter(agent_id=prompt.agent_id):
        rollout.delete()
        _prompt_event(PromptEvent.Kind.ROLLOUT_ENDED, rollout.candidate, rollout.share)
    previous = list(PromptVersion.objects.filter(agent_id=prompt.agent_id, is_active=True).values_list(
        "version", flat=True))
    PromptVersion.objects.filter(agent_id=prompt.agent_id, is_active=True).exclude(pk=prompt.pk).update(
        is_active=False
    )
    # The in-memory flag may be stale (another request activated a sibling), so always write it.
    PromptVersion.objects.filter(pk=prompt.pk).update(is_active=True)
    prompt.is_active = True
    if previous != [prompt.version]:  # the queryset updates above bypass save(): record them here
        audit.record("activated", prompt, object_type="prompt version", object_repr=f"{prompt.agent} v{prompt.version}",
                     before={"active_version": previous[0] if previous else None},
                     after={"active_version": prompt.version})
        _prompt_event(PromptEvent.Kind.ACTIVATED, prompt)
    return prompt


@transaction.atomic
def create_prompt_version(
    agent: Agent, text: str, change_note: str = "", author: AbstractBaseUser | None = None, make_active: bool = False
) -> PromptVersion:
    """Add the agent's next version (highest + 1); optionally make it the active one.

    The first version of an agent is always made active: an agent with prompts but no active one
    would leave runs without a version to attribute to.
    """
    _lock_agent(agent)
    last = PromptVersion.objects.filter(agent=agent).aggregate(m=Max("version"))["m"] or 0
    prompt = PromptVersion.objects.create(
        agent=agent, version=last + 1, text=text, change_note=change_note, author=author
    )
    if make_active or last == 0:
        activate_prompt_version(prompt)
    return prompt


@transaction.atomic
def adopt_agent(
    agent: Agent, department: Department, owner: AbstractBaseUser | None, lifecycle_stage: str
) -> Agent:
    """Take a telemetry-discovered agent into the registry proper."""
    agent.department = department
    agent.owner = owner
    agent.lifecycle_stage = lifecycle_stage
    agent.discovered = False
    agent.save(update_fields=["department", "owner", "lifecycle_stage", "discovered", "updated_at"])
    return agent


def create_api_key(label: str, agent: Agent | None, created_by: AbstractBaseUser | None) -> tuple[ApiKey, str]:
    """A new key and its plaintext token. The token exists only in this return value."""
    return ApiKey.generate(label=label, agent=agent, created_by=created_by)


def revoke_api_key(key: ApiKey) -> ApiKey:
    """Revoke ``key``; revoking twice keeps the first revocation time."""
    key.revoke()
    return key


def delete_model_price(price: ModelPrice) -> None:
    """Delete a price row that has not taken effect yet.

    Past rows priced real runs, so removing them would silently change historical costs; a
    correction is a new effective-dated row instead.
    """
    if price.effective_from <= timezone.now():
        raise RegistryError(
            f"The {price.model_name} price from {price.effective_from:%Y-%m-%d %H:%M} UTC is already in force; "
            "add a new effective-dated row instead of deleting it."
        )
    price.delete()


# ---------------------------------------------------------------------------------------------
# Rolling a candidate prompt version out to a share of traffic


@transaction.atomic
def start_rollout(prompt: PromptVersion, share: int, user: AbstractBaseUser | None = None) -> PromptRollout:
    """Serve ``prompt`` to ``share`` % of the agent's routing keys (replaces a running rollout)."""
    agent = _lock_agent(prompt.agent)
    prompt.refresh_from_db(fields=["is_active"])
    if prompt.is_active:
        raise RegistryError(f"Version {prompt.version} is already the active prompt; roll out another version.")
    if not 1 <= share <= 99:
        raise RegistryError("The share must be between 1 and 99 %; to serve a version to everyone, activate it.")
    if agent.active_prompt() is None:
        raise RegistryError(f"{agent.name} has no active prompt to split traffic with; activate a version first.")
    running = PromptRollout.objects.filter(agent=agent).values_list("candidate_id", "share").first()
    rollout, created = PromptRollout.objects.update_or_create(
        agent=agent, defaults={"candidate": prompt, "share": share, "started_by": user, "started_at": timezone.now()}
    )
    if running != (prompt.pk, share):  # the same split asked for again changes nothing served
        kind = PromptEvent.Kind.ROLLOUT_STARTED if created else PromptEvent.Kind.ROLLOUT_CHANGED
        _prompt_event(kind, prompt, share, user)
    return rollout


@transaction.atomic
def roll_back(agent: Agent) -> PromptRollout | None:
    """Stop serving the candidate: every request gets the active version again. Returns the ended rollout."""
    _lock_agent(agent)
    rollout = PromptRollout.objects.select_related("candidate").filter(agent=agent).first()
    if rollout is not None:
        rollout.delete()
        _prompt_event(PromptEvent.Kind.ROLLOUT_ENDED, rollout.candidate, rollout.share)
    return rollout


@transaction.atomic
def promote_candidate(agent: Agent) -> PromptVersion:
    """Make the rollout's candidate the active version (which ends the rollout)."""
    _lock_agent(agent)
    rollout = PromptRollout.objects.select_related("candidate__agent").filter(agent=agent).first()
    if rollout is None:
        raise RegistryError(f"{agent.name} has no rollout in progress.")
    return activate_prompt_version(rollout.candidate)


@transaction.atomic
def set_user_departments(user: AbstractBaseUser, departments) -> None:
    """Limit ``user`` to ``departments`` (none: no limit). Each added or removed scope is audited."""
    from .models import UserDepartment

    wanted = {d.pk for d in departments}
    current = {s.department_id: s for s in UserDepartment.objects.select_for_update().filter(user=user)}
    for department_id, scope in current.items():
        if department_id not in wanted:
            scope.delete()
    for department_id in wanted - set(current):
        UserDepartment.objects.create(user=user, department_id=department_id)


def set_archived(agent, archived: bool, actor=None) -> None:
    """Archive an agent (kept with its history, hidden from the overview and lists by default) or
    bring it back."""
    from django.utils import timezone

    agent.archived_at = timezone.now() if archived else None
    agent.save(update_fields=["archived_at"])
