"""What monitoring contributes to lower apps' pages (agentops/extensions.py): its navigation entries
and the links card on the registry's agent page. Registered from MonitoringConfig.ready()."""

from __future__ import annotations

from django.template.loader import render_to_string

from agentops.extensions import AGENT_LINKS, AGENT_PANELS, NAV, NavItem, links
from agentops.permissions import OPERATIONS

NAV_ITEMS = [
    NavItem("Monitoring", "Overview", "monitoring:overview", (OPERATIONS,), 100),
    NavItem("Monitoring", "Runs", "monitoring:runs", (OPERATIONS,), 110),
    NavItem("Monitoring", "Alerts", "monitoring:alerts", (OPERATIONS,), 120),
    NavItem("Monitoring", "Dead letters", "monitoring:dead_letters", (OPERATIONS,), 190),
]


def agent_links_panel(request, agent) -> str:
    context = {"agent": agent, "links": links(AGENT_LINKS, agent)}
    return render_to_string("monitoring/_agent_links_panel.html", context, request=request)


CONTRIBUTIONS = {
    NAV: NAV_ITEMS,
    AGENT_PANELS: [agent_links_panel],
}
