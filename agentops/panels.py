"""Panels that higher apps add to registry pages, without the registry importing them.

Dependencies point one way (agentops <- monitoring <- handoffs <- roi), yet the registry's agent and
prompt pages should show, e.g., monitoring's health summary or the cases that motivated a prompt
draft. A higher app registers a renderer for a slot in its AppConfig.ready(); the registry view asks
for the slot's rendered panels. A renderer takes (request, **objects) and returns HTML or "".
"""

from __future__ import annotations

from collections.abc import Callable

from django.utils.safestring import SafeString, mark_safe

PanelRenderer = Callable[..., str]
_PANELS: dict[str, list[PanelRenderer]] = {}

AGENT_DETAIL = "agent_detail"  # objects: agent
PROMPT_DETAIL = "prompt_detail"  # objects: agent, prompt
# Beside the (read-only) lifecycle stage on the agent's edit form: where the stage is changed.
AGENT_STAGE = "agent_stage"  # objects: agent
ROLLOUT_FORM = "rollout_form"  # objects: agent, prompt (inside the "try on a share of traffic" form)
RUN_DETAIL = "run_detail"  # objects: run (the trace page)
RUN_LIST = "run_list"  # objects: query (the run explorer's query string, filters included)
FAILURE_GROUP = "failure_group"  # objects: fingerprint
TICKET_DETAIL = "ticket_detail"  # objects: ticket

# Pages of lower apps whose views are not the registry's call render_panels themselves, or the
# template asks with {% load panel_tags %}{% panels "slot" name=value %}.


def register_panel(slot: str, renderer: PanelRenderer) -> None:
    if renderer not in _PANELS.setdefault(slot, []):
        _PANELS[slot].append(renderer)


def render_panels(slot: str, request, **objects) -> list[SafeString]:
    rendered = (renderer(request, **objects) for renderer in _PANELS.get(slot, []))
    return [mark_safe(html) for html in rendered if html]  # noqa: S308 - renderers return template output
