"""What evals contributes to lower apps' pages (agentops/extensions.py): its navigation entries;
panels to add runs, failure groups and corrected tickets to datasets; a prompt version's experiments;
the rollout form's experiment check. Registered from EvalsConfig.ready()."""

from __future__ import annotations

from django.template.loader import render_to_string

from agentops.extensions import (
    FAILURE_GROUP_PANELS,
    NAV,
    PROMPT_PANELS,
    ROLLOUT_PANELS,
    RUN_LIST_PANELS,
    RUN_PANELS,
    TICKET_PANELS,
    NavItem,
)
from agentops.permissions import OPERATIONS, has_role

from .models import Dataset


def _ops(request) -> bool:
    return request is not None and has_role(request.user, OPERATIONS)


def _datasets():
    return Dataset.objects.only("id", "name").order_by("name")


def run_panel(request, run) -> str:
    if not _ops(request):
        return ""
    return render_to_string("evals/panels/_run.html", {"run": run, "datasets": _datasets()}, request=request)


def run_list_panel(request, query="") -> str:
    if not _ops(request):
        return ""
    return render_to_string("evals/panels/_run_list.html", {"query": query}, request=request)


def failure_group_panel(request, fingerprint) -> str:
    if not _ops(request):
        return ""
    return render_to_string("evals/panels/_failure_group.html", {"fingerprint": fingerprint, "datasets": _datasets()},
                            request=request)


def ticket_panel(request, ticket) -> str:
    if not _ops(request) or ticket.outcome != "corrected_agent_answer" or not ticket.corrected_answer.strip():
        return ""
    return render_to_string("evals/panels/_ticket.html", {"ticket": ticket, "datasets": _datasets()}, request=request)


def prompt_panel(request, agent, prompt) -> str:
    from . import queries

    return render_to_string("evals/panels/_prompt.html", {
        "agent": agent, "prompt": prompt, "experiments": list(queries.experiments(prompt=prompt)[:5]),
    }, request=request)


def rollout_panel(request, agent, prompt) -> str:
    from . import queries

    return render_to_string("evals/panels/_rollout.html", {
        "agent": agent, "prompt": prompt, "check": queries.rollout_check(prompt),
    }, request=request)


NAV_ITEMS = [
    NavItem("Evals", "Datasets", "evals:dataset_list", (OPERATIONS,), 500),
    NavItem("Evals", "Experiments", "evals:experiment_list", (OPERATIONS,), 510),
    NavItem("Evals", "Evaluators", "evals:evaluator_list", (OPERATIONS,), 520),
    NavItem("Evals", "Online evaluation", "evals:online_list", (OPERATIONS,), 530),
    NavItem("Evals", "Model endpoints", "evals:endpoint_list", (OPERATIONS,), 540),
]


CONTRIBUTIONS = {
    NAV: NAV_ITEMS,
    RUN_PANELS: [run_panel],
    RUN_LIST_PANELS: [run_list_panel],
    FAILURE_GROUP_PANELS: [failure_group_panel],
    TICKET_PANELS: [ticket_panel],
    PROMPT_PANELS: [prompt_panel],
    ROLLOUT_PANELS: [rollout_panel],
}
