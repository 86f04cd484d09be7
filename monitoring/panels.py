"""Monitoring's panels on registry pages (see agentops/panels.py)."""

from __future__ import annotations

from django.template.loader import render_to_string

from agentops.panels import AGENT_DETAIL, register_panel


def agent_links_panel(request, agent) -> str:
    return render_to_string("monitoring/_agent_links_panel.html", {"agent": agent}, request=request)


def register() -> None:
    register_panel(AGENT_DETAIL, agent_links_panel)
