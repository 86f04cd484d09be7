"""Evals' panels on lower apps' pages (agentops/panels.py): add runs, failure groups and corrected
tickets to datasets; a prompt version's experiments; the rollout form's experiment check."""

from __future__ import annotations

from django.template.loader import render_to_string

from agentops.panels import (
    FAILURE_GROUP,
    PROMPT_DETAIL,
    ROLLOUT_FORM,
    RUN_DETAIL,
    RUN_LIST,
    TICKET_DETAIL,
    register_panel,
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


def register() -> None:
    register_panel(RUN_DETAIL, run_panel)
    register_panel(RUN_LIST, run_list_panel)
    register_panel(FAILURE_GROUP, failure_group_panel)
    register_panel(TICKET_DETAIL, ticket_panel)
    register_panel(PROMPT_DETAIL, prompt_panel)
    register_panel(ROLLOUT_FORM, rollout_panel)
