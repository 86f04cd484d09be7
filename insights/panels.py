"""Insights' panels on registry pages (see agentops/panels.py)."""

from __future__ import annotations

from django.template.loader import render_to_string

from agentops.panels import PROMPT_DETAIL, register_panel
from insights.queries import cases_for_prompt_version


def prompt_cases_panel(request, agent, prompt) -> str:
    cases = cases_for_prompt_version(prompt.id)
    if not cases:
        return ""
    return render_to_string("insights/_prompt_cases.html", {"cases": cases}, request=request)


def register() -> None:
    register_panel(PROMPT_DETAIL, prompt_cases_panel)
