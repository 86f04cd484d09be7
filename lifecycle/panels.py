"""Lifecycle's panels on registry pages (see agentops/panels.py): readiness and stage history on the
agent page, and the stage (read-only, with a link) on the agent's edit form."""

from __future__ import annotations

from django.template.loader import render_to_string

from agentops.panels import AGENT_DETAIL, AGENT_STAGE, register_panel
from agentops.permissions import OPERATIONS, has_role


def readiness_panel(request, agent) -> str:
    from . import queries

    if agent.discovered:
        return ""
    context = {"agent": agent, "card": queries.agent_card(agent), "history": queries.history(agent, limit=5),
               "can_act": has_role(request.user, OPERATIONS)}
    return render_to_string("lifecycle/_agent_panel.html", context, request=request)


def stage_panel(request, agent) -> str:
    return render_to_string("lifecycle/_stage_field.html", {"agent": agent}, request=request)


def register() -> None:
    register_panel(AGENT_DETAIL, readiness_panel)
    register_panel(AGENT_STAGE, stage_panel)
