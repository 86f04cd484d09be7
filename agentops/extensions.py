"""The one way for a lower app to show something of a higher one.

Dependencies point one way (agentops <- monitoring <- handoffs <- insights, evals, roi <- lifecycle
<- demo), yet lower pages show things of higher apps: the navigation lists every app's pages, the
registry's agent page shows monitoring's links, the trace view links to the run's handoff tickets.
The lower app names an extension point here and asks for its contributions when it renders; each
higher app registers its contributions in its ``AppConfig.ready()``. Nothing imports upward and no
link is guarded: a contribution whose URL does not resolve fails (and a test renders them all).

Extension points (contribution shape in brackets):

- ``NAV`` [``NavItem``]: a link in the site navigation, in a named section, for the roles given.
- ``*_PANELS`` [``renderer(request, **objects) -> html``]: a card on a lower app's page (the
  registry's agent and prompt pages, the trace view, the run explorer, a failure group, a ticket);
  "" shows nothing.
- ``AGENT_LINKS`` / ``TRACE_LINKS`` / ``FAILURE_LINKS`` [``provider(agent or run) -> list[Link]``]:
  links on monitoring's agent links card / on the trace view (the run's tickets) / on the trace
  view's failure card (failed runs).
- ``ROI_EXPORT_SECTIONS`` [``provider(agent_ids, period) -> ContextSection | None``]: sections of the
  ROI export's assumptions sheet.

Events are not extension points: ``monitoring/announcements.py`` (after commit) and
``monitoring/signals.py`` tell other apps that something happened (runs recorded, telemetry about to
expire), whereas contributions here are asked for while a page renders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

NAV = "nav"
# Panels: a renderer(request, **objects) -> html ("" shows nothing); the value names the page, and a
# template may render a point in place with {% load panel_tags %}{% panels "run_detail" run=run %}.
AGENT_PANELS = "agent_detail"
AGENT_STAGE_PANELS = "agent_stage"
PROMPT_PANELS = "prompt_detail"
ROLLOUT_PANELS = "rollout_form"
RUN_PANELS = "run_detail"
RUN_LIST_PANELS = "run_list"
FAILURE_GROUP_PANELS = "failure_group"
TICKET_PANELS = "ticket_detail"
AGENT_LINKS = "agent_links"
TRACE_LINKS = "trace_links"
FAILURE_LINKS = "failure_links"
ROI_EXPORT_SECTIONS = "roi_export_sections"

POINTS: dict[str, str] = {
    NAV: "site navigation entries (NavItem)",
    AGENT_PANELS: "cards on the registry agent page: renderer(request, agent) -> html",
    AGENT_STAGE_PANELS: "beside the read-only stage on the agent edit form: renderer(request, agent) -> html",
    PROMPT_PANELS: "cards on the registry prompt version page: renderer(request, agent, prompt) -> html",
    ROLLOUT_PANELS: "inside the prompt page's rollout form: renderer(request, agent, prompt) -> html",
    RUN_PANELS: "on the trace view: renderer(request, run) -> html",
    RUN_LIST_PANELS: "beside the run explorer's export: renderer(request, query) -> html",
    FAILURE_GROUP_PANELS: "on a failure group page: renderer(request, fingerprint) -> html",
    TICKET_PANELS: "on a ticket page: renderer(request, ticket) -> html",
    AGENT_LINKS: "links on monitoring's agent links card: provider(agent) -> list[Link]",
    TRACE_LINKS: "links on the trace view (the run's tickets): provider(run) -> list[Link]",
    FAILURE_LINKS: "links on the trace view's failure card, failed runs only: provider(run) -> list[Link]",
    ROI_EXPORT_SECTIONS: "extra sections of the ROI export's assumptions sheet: "
    "provider(agent_ids, period) -> ContextSection | None",
}

_CONTRIBUTIONS: dict[str, list] = {point: [] for point in POINTS}


class UnknownExtensionPoint(LookupError):
    pass


@dataclass(frozen=True)
class NavItem:
    """A navigation link. Sections are ordered by their first item's ``order``, items by ``order``.

    ``badge(user) -> int | None`` puts a counter beside the link (None hides it); ``badge_title`` says
    what it counts (its tooltip)."""

    section: str
    label: str
    url_name: str
    roles: tuple[str, ...]
    order: int
    badge: Callable | None = None
    badge_title: str = ""

    @property
    def url(self) -> str:
        return reverse(self.url_name)


@dataclass(frozen=True)
class Link:
    label: str
    url: str


def register(point: str, contribution) -> None:
    """Add a contribution to an extension point (idempotent: ``ready()`` may run twice in tests)."""
    if point not in POINTS:
        raise UnknownExtensionPoint(f"No extension point {point!r}; the points are {', '.join(POINTS)}.")
    if contribution not in _CONTRIBUTIONS[point]:
        _CONTRIBUTIONS[point].append(contribution)


def register_all(contributions: dict[str, list]) -> None:
    """Register an app's contributions, ``{point: [contribution, ...]}`` (its ``extensions.CONTRIBUTIONS``)."""
    for point, items in contributions.items():
        for contribution in items:
            register(point, contribution)


def unregister(point: str, contribution) -> None:
    """Take a contribution back (tests that register their own)."""
    if contribution in _CONTRIBUTIONS.get(point, []):
        _CONTRIBUTIONS[point].remove(contribution)


def contributions(point: str) -> tuple:
    if point not in POINTS:
        raise UnknownExtensionPoint(f"No extension point {point!r}; the points are {', '.join(POINTS)}.")
    return tuple(_CONTRIBUTIONS[point])


def render_panels(point: str, request, **objects) -> list[SafeString]:
    """Every panel registered for ``point``, rendered; empty ones left out."""
    rendered = (renderer(request, **objects) for renderer in contributions(point))
    return [mark_safe(html) for html in rendered if html]  # noqa: S308 - renderers return template output


def links(point: str, obj) -> list[Link]:
    """Every link the providers registered for ``point`` give for ``obj``, in registration order."""
    found: list[Link] = []
    for provider in contributions(point):
        found.extend(_as_links(provider(obj)))
    return found


def _as_links(items: Iterable) -> Iterable[Link]:
    for item in items:
        yield item if isinstance(item, Link) else Link(*item)
