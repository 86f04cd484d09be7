"""What lifecycle contributes to lower apps' pages (agentops/extensions.py): navigation entries (the
board's badge counts the agents the watch flagged for a demotion), readiness and stage history on the
registry's agent page, the stage (read-only, with a link) on the agent's edit form, and the stage
history section of the ROI export. Registered from LifecycleConfig.ready()."""

from __future__ import annotations

from django.template.loader import render_to_string

from agentops.extensions import AGENT_PANELS, AGENT_STAGE_PANELS, NAV, ROI_EXPORT_SECTIONS, NavItem
from agentops.permissions import FINANCE, OPERATIONS, has_role

from .exports import stage_history_section


def flagged_badge(user) -> int | None:
    if not has_role(user, OPERATIONS):
        return None
    from .queries import flagged_count

    return flagged_count(user) or None


def readiness_panel(request, agent) -> str:
    from . import queries

    if agent.discovered:
        return ""
    context = {"agent": agent, "card": queries.agent_card(agent), "history": queries.history(agent, limit=5),
               "can_act": has_role(request.user, OPERATIONS)}
    return render_to_string("lifecycle/_agent_panel.html", context, request=request)


def stage_panel(request, agent) -> str:
    return render_to_string("lifecycle/_stage_field.html", {"agent": agent}, request=request)


NAV_ITEMS = [
    NavItem("Lifecycle", "Board", "lifecycle:board", (OPERATIONS,), 600, badge=flagged_badge,
            badge_title="agents flagged by the lifecycle watch"),
    NavItem("Lifecycle", "Portfolio", "lifecycle:portfolio", (OPERATIONS, FINANCE), 610),
    NavItem("Lifecycle", "Stage criteria", "lifecycle:criteria", (OPERATIONS,), 620),
]


CONTRIBUTIONS = {
    NAV: NAV_ITEMS,
    AGENT_PANELS: [readiness_panel],
    AGENT_STAGE_PANELS: [stage_panel],
    ROI_EXPORT_SECTIONS: [stage_history_section],
}
