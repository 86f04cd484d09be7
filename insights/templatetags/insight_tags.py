"""Cells of the root-cause table built in Python: the page lists up to 40 groups with five agents and
five prompt versions each, and the template engine's per-node work (a URL reversed, a number
formatted, a loop variable resolved for every item) was most of the page's time."""

from __future__ import annotations

from functools import lru_cache

from django import template
from django.urls import get_urlconf, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from agentops.formatting import format_count

register = template.Library()

SHOWN = 5


def _more(items: list) -> SafeString:
    extra = len(items) - SHOWN
    return format_html(' <span class="muted small">and {} more</span>', extra) if extra > 0 else SafeString("")


@lru_cache(maxsize=8)
def _compare_url_parts(urlconf) -> tuple[str, str]:
    return tuple(reverse("insights:compare", args=["-"], urlconf=urlconf).rsplit("-", 1))


def _compare_url() -> tuple[str, str]:
    """The compare page's address around the agent's slug: every link shares it, reversed once."""
    return _compare_url_parts(get_urlconf())


@register.simple_tag
def group_agents(group) -> SafeString:
    """The agents a group failed in (busiest first), each linked to its prompt-version compare."""
    head, tail = _compare_url()
    shown = format_html_join(", ", '<a href="{}">{}</a> <span class="muted small">{}</span>', (
        (f"{head}{agent.slug}{tail}", agent.name, format_count(n)) for agent, n in group.agents[:SHOWN]))
    return shown + _more(group.agents)


@register.simple_tag
def group_versions(group) -> SafeString:
    """Whose prompt versions the group failed in, with their runs."""
    shown = format_html_join(", ", '{} <span class="muted small">{}</span>', (
        (label, format_count(n)) for label, n in group.versions[:SHOWN]))
    return shown + _more(group.versions)
