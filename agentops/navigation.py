"""The site navigation, built from the ``NAV`` entries every app registers (agentops/extensions.py).

Each app contributes the entries of the pages it owns in its ``AppConfig.ready()``; an entry is
shown to the roles it names. The registry's own entries are below.
"""

from __future__ import annotations

from collections import defaultdict

from .extensions import NAV, NavItem, contributions, register_all
from .permissions import OPERATIONS, user_roles

REGISTRY_NAV = [
    NavItem("Registry", "Agents", "registry:agent_list", (OPERATIONS,), 200),
    NavItem("Registry", "Departments", "registry:department_list", (OPERATIONS,), 210),
    NavItem("Registry", "API keys", "registry:apikey_list", (OPERATIONS,), 220),
    NavItem("Registry", "Model prices", "registry:modelprice_list", (OPERATIONS,), 230),
    NavItem("Registry", "Users", "registry:user_list", (OPERATIONS,), 240),
    NavItem("Registry", "Audit log", "registry:audit_log", (OPERATIONS,), 250),
    NavItem("Registry", "Sign-in locks", "registry:signin_locks", (OPERATIONS,), 260),
]


def register_navigation() -> None:
    register_all({NAV: REGISTRY_NAV})


def visible_items(user) -> list[NavItem]:
    """The entries ``user``'s roles open, in navigation order."""
    roles = user_roles(user)
    return sorted((item for item in contributions(NAV) if roles & set(item.roles)), key=lambda item: item.order)


def build_navigation(user, current_path: str = "") -> list[dict]:
    by_section: dict[str, list[dict]] = defaultdict(list)
    for item in visible_items(user):
        badge = item.badge(user) if item.badge else None
        by_section[item.section].append({"label": item.label, "url": item.url, "active": False, "badge": badge,
                                         "badge_title": item.badge_title})
    sections = [{"title": title, "links": links} for title, links in by_section.items()]
    # One active link: the most specific one the path is under (Overview's /monitoring/ is a prefix
    # of every monitoring page, Dead letters' /monitoring/dead-letters/ only of its own).
    matches = [link for section in sections for link in section["links"] if current_path.startswith(link["url"])]
    if matches:
        max(matches, key=lambda link: len(link["url"]))["active"] = True
    return sections
