"""Monitoring's panels on registry pages (see agentops/panels.py)."""

from __future__ import annotations

from django.template.loader import render_to_string

from agentops.panels import AGENT_DETAIL, PROMPT_DETAIL, register_panel


def prompt_cases_panel(request, agent, prompt) -> str:
    from .insight_queries import cases_for_prompt_version

    cases = cases_for_prompt_version(prompt.id)
    if not cases:
        return ""
    return render_to_string("monitoring/insights/_prompt_cases.html", {"cases": cases}, request=request)


def agent_links_panel(request, agent) -> str:
    return render_to_string("monitoring/_agent_links_panel.html", {"agent": agent}, request=request)


def register() -> None:
    register_panel(PROMPT_DETAIL, prompt_cases_panel)
    register_panel(AGENT_DETAIL, agent_links_panel)
