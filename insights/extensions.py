"""What insights contributes to lower apps' pages (agentops/extensions.py): navigation entries, the
prompt page's motivating cases, the agent links card's prompt comparison and the trace view's link
to the run's failure group. Registered from InsightsConfig.ready()."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.urls import reverse

from agentops.extensions import AGENT_LINKS, FAILURE_LINKS, NAV, PROMPT_PANELS, Link, NavItem
from agentops.permissions import OPERATIONS
from insights.queries import cases_for_prompt_version

NAV_ITEMS = [
    NavItem("Monitoring", "Root causes", "insights:root_causes", (OPERATIONS,), 130),
    NavItem("Monitoring", "Agent map", "insights:agent_map", (OPERATIONS,), 140),
]


def prompt_cases_panel(request, agent, prompt) -> str:
    cases = cases_for_prompt_version(prompt.id)
    if not cases:
        return ""
    return render_to_string("insights/_prompt_cases.html", {"cases": cases}, request=request)


def compare_link(agent) -> list[Link]:
    return [Link("Compare prompt versions", reverse("insights:compare", args=[agent.slug]))]


def failure_group_link(run) -> list[Link]:
    if not run.fingerprint:
        return []
    return [Link("See every run with this failure", reverse("insights:failure_group", args=[run.fingerprint]))]


CONTRIBUTIONS = {
    NAV: NAV_ITEMS,
    PROMPT_PANELS: [prompt_cases_panel],
    AGENT_LINKS: [compare_link],
    FAILURE_LINKS: [failure_group_link],
}
