"""Read-only selectors for the registry pages. Each returns everything its page shows in a fixed
number of queries (asserted in tests/agentops/test_queries.py)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

from django.db.models import Count, Prefetch, Q, QuerySet
from django.shortcuts import get_object_or_404

from .models import Agent, ApiKey, Department, ModelPrice, PromptRollout, PromptVersion
from .routing import gets_candidate


@dataclass(frozen=True)
class AgentFilters:
    q: str = ""
    department: Department | None = None
    lifecycle_stage: str = ""
    discovered: bool | None = None


def _active_prompts() -> Prefetch:
    # Only the active version's number is shown in lists; the (long) text stays in the database.
    return Prefetch(
        "prompt_versions",
        queryset=PromptVersion.objects.filter(is_active=True).only("id", "agent_id", "version", "is_active"),
        to_attr="active_prompts",
    )


def agent_list(filters: AgentFilters) -> QuerySet[Agent]:
    """Agents matching ``filters``, with department, owner and active prompt loaded."""
    qs = Agent.objects.select_related("department", "owner").prefetch_related(_active_prompts())
    if filters.q:
        qs = qs.filter(
            Q(name__icontains=filters.q) | Q(slug__icontains=filters.q) | Q(description__icontains=filters.q)
        )
    if filters.department is not None:
        qs = qs.filter(department=filters.department)
    if filters.lifecycle_stage:
        qs = qs.filter(lifecycle_stage=filters.lifecycle_stage)
    if filters.discovered is not None:
        qs = qs.filter(discovered=filters.discovered)
    return qs.order_by("name")


def discovered_count() -> int:
    return Agent.objects.filter(discovered=True).count()


def agent_by_slug(slug: str) -> Agent:
    """The agent with department and owner loaded; 404 with a message when unknown."""
    return get_object_or_404(Agent.objects.select_related("department", "owner"), slug=slug)


def prompt_versions(agent: Agent) -> QuerySet[PromptVersion]:
    """The agent's versions, newest first, without their text (lists don't show it)."""
    return agent.prompt_versions.select_related("author").defer("text").order_by("-version")


def prompt_version(agent: Agent, version: int) -> PromptVersion:
    return get_object_or_404(
        PromptVersion.objects.select_related("author", "agent"), agent=agent, version=version
    )


def agent_api_keys(agent: Agent) -> QuerySet[ApiKey]:
    return agent.api_keys.select_related("created_by").order_by("-created_at")


def api_keys() -> QuerySet[ApiKey]:
    """All keys, newest first; revoked keys stay listed for the audit trail."""
    return ApiKey.objects.select_related("agent", "created_by").order_by("-created_at")


@dataclass(frozen=True)
class PriceGroup:
    model_name: str
    rows: list[ModelPrice]  # newest effective_from first


def model_price_groups() -> list[PriceGroup]:
    """Prices grouped by model, each with its effective-dated history (one query)."""
    rows = ModelPrice.objects.select_related("created_by").order_by("model_name", "-effective_from")
    return [PriceGroup(name, list(group)) for name, group in groupby(rows, key=lambda p: p.model_name)]


def departments() -> QuerySet[Department]:
    return Department.objects.annotate(agent_count=Count("agents")).order_by("name")


@dataclass(frozen=True)
class ServedPrompt:
    """The version one request gets: the active one, or the rollout's candidate for its share of keys."""

    prompt: PromptVersion
    arm: str  # "active" or "candidate"
    rollout: PromptRollout | None


def served_prompt(agent: Agent, routing_key: str) -> ServedPrompt | None:
    """None when the agent has no active prompt. Two queries."""
    active = agent.active_prompt()
    if active is None:
        return None
    rollout = PromptRollout.objects.select_related("candidate").filter(agent=agent).first()
    if rollout is not None and routing_key and gets_candidate(agent.slug, routing_key, rollout.share):
        return ServedPrompt(rollout.candidate, "candidate", rollout)
    return ServedPrompt(active, "active", rollout)


def rollout(agent: Agent) -> PromptRollout | None:
    return PromptRollout.objects.select_related("candidate", "started_by").filter(agent=agent).first()
