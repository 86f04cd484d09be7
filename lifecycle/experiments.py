"""The "passing experiment for the active prompt version" criterion, read from the evals app.

The evidence is the latest completed experiment of the agent's active prompt version and its pass rate
(items that produced an output and passed every evaluator, over all its items), which the criterion
compares with its threshold. An agent with no active prompt version or no completed experiment fails.
lifecycle sits above evals in the import rule, so it reads evals' models directly.
"""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce

from agentops.models import Agent, PromptVersion
from evals.models import Experiment, ExperimentItem, ExperimentStatus, ItemStatus

from .criteria import ExperimentEvidence


def evidence_for(agents: list[Agent]) -> dict[int, ExperimentEvidence]:
    """Evidence per agent; an agent without a completed experiment of its active prompt fails."""
    if not agents:
        return {}
    found = evals_evidence(agents)
    missing = ExperimentEvidence(False, "no experiment for the active prompt version")
    return {a.id: found.get(a.id, missing) for a in agents}


def evals_evidence(agents: list[Agent]) -> dict[int, ExperimentEvidence]:
    """The latest completed experiment of each agent's active prompt version: two queries for all agents."""

    def items(**filters) -> Subquery:
        # Counted in subqueries: DISTINCT ON (the latest per prompt) cannot be combined with GROUP BY.
        counted = (ExperimentItem.objects.filter(experiment=OuterRef("pk"), **filters).order_by()
                   .values("experiment").annotate(n=Count("id")).values("n"))
        return Coalesce(Subquery(counted), 0)

    active = {p.pk: p for p in PromptVersion.objects.filter(agent__in=agents, is_active=True).only("id", "agent_id",
                                                                                                    "version")}
    latest = (Experiment.objects.filter(prompt_version_id__in=list(active), status=ExperimentStatus.COMPLETED)
              .annotate(total=items(), ok=items(passed=True, status=ItemStatus.OK))
              .order_by("prompt_version_id", "-created_at", "-id").distinct("prompt_version_id"))
    out: dict[int, ExperimentEvidence] = {}
    with_prompt = {p.agent_id for p in active.values()}
    for agent in agents:
        if agent.id not in with_prompt:
            out[agent.id] = ExperimentEvidence(False, "no active prompt version")
    for experiment in latest:
        prompt = active[experiment.prompt_version_id]
        rate = (Decimal(experiment.ok) * 100 / experiment.total).quantize(Decimal("0.1")) if experiment.total \
            else Decimal(0)
        out[prompt.agent_id] = ExperimentEvidence(
            None, f"{rate.normalize():f} % of {experiment.total} cases passed in “{experiment.name}” (v{prompt.version})",
            experiment.get_absolute_url(), rate)
    return out
