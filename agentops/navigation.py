"""The site navigation: each section is shown to the roles it serves.

Entries whose URL name is not (yet) defined are skipped, so a section appears once its pages exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse

from .permissions import FINANCE, OPERATIONS, REVIEWERS, user_roles


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str


SECTIONS: list[tuple[str, tuple[str, ...], list[NavItem]]] = [
    (
        "Monitoring",
        (OPERATIONS,),
        [
            NavItem("Overview", "monitoring:overview"),
            NavItem("Runs", "monitoring:runs"),
            NavItem("Alerts", "monitoring:alerts"),
            NavItem("Root causes", "insights:root_causes"),
            NavItem("Agent map", "insights:agent_map"),
            NavItem("Dead letters", "monitoring:dead_letters"),
        ],
    ),
    (
        "Registry",
        (OPERATIONS,),
        [
            NavItem("Agents", "registry:agent_list"),
            NavItem("Departments", "registry:department_list"),
            NavItem("API keys", "registry:apikey_list"),
            NavItem("Model prices", "registry:modelprice_list"),
            NavItem("Users", "registry:user_list"),
            NavItem("Audit log", "registry:audit_log"),
            NavItem("Sign-in locks", "registry:signin_locks"),
        ],
    ),
    (
        "Handoffs",
        (REVIEWERS, OPERATIONS),
        [
            NavItem("Queues", "handoffs:queue_list"),
            NavItem("My tickets", "handoffs:my_tickets"),
            NavItem("Queue metrics", "handoffs:metrics"),
        ],
    ),
    (
        "Evals",
        (OPERATIONS,),
        [
            NavItem("Datasets", "evals:dataset_list"),
            NavItem("Experiments", "evals:experiment_list"),
            NavItem("Evaluators", "evals:evaluator_list"),
            NavItem("Online evaluation", "evals:online_list"),
            NavItem("Model endpoints", "evals:endpoint_list"),
        ],
    ),
    (
        "Lifecycle",
        (OPERATIONS, FINANCE),
        [
            NavItem("Board", "lifecycle:board"),
            NavItem("Portfolio", "lifecycle:portfolio"),
            NavItem("Stage criteria", "lifecycle:criteria"),
        ],
    ),
    (
        "ROI",
        (FINANCE,),
        [
            NavItem("ROI report", "roi:report"),
            NavItem("Assumptions", "roi:assumptions"),
            NavItem("Spend watch", "roi:spend"),
        ],
    ),
]

# Pages inside a section that only some of its roles may open.
ITEM_ROLES: dict[str, tuple[str, ...]] = {
    "handoffs:my_tickets": (REVIEWERS,),
    "handoffs:metrics": (OPERATIONS,),
    "lifecycle:board": (OPERATIONS,),
    "lifecycle:criteria": (OPERATIONS,),
}


# Counters shown beside a nav link (e.g. a reviewer's open claims). Higher apps register them in
# their AppConfig.ready(), so agentops never imports them: register_badge("handoffs:my_tickets", fn).
BADGES: dict[str, object] = {}
# What a badge counts, shown as its tooltip (e.g. "open claims").
BADGE_TITLES: dict[str, str] = {}


def register_badge(url_name: str, count_for_user, title: str = "open claims") -> None:
    BADGES[url_name] = count_for_user
    BADGE_TITLES[url_name] = title


def build_navigation(user, current_path: str = "") -> list[dict]:
    roles = user_roles(user)
    sections = []
    for title, section_roles, items in SECTIONS:
        if not roles & set(section_roles):
            continue
        links = []
        for item in items:
            allowed = ITEM_ROLES.get(item.url_name)
            if allowed and not roles & set(allowed):
                continue
            try:
                url = reverse(item.url_name)
            except NoReverseMatch:
                continue
            badge_fn = BADGES.get(item.url_name)
            badge = badge_fn(user) if badge_fn else None
            links.append({"label": item.label, "url": url, "active": False, "badge": badge,
                          "badge_title": BADGE_TITLES.get(item.url_name, "")})
        if links:
            sections.append({"title": title, "links": links})
    # One active link: the most specific one the path is under (Overview's /monitoring/ is a prefix
    # of every monitoring page, Dead letters' /monitoring/dead-letters/ only of its own).
    matches = [link for section in sections for link in section["links"] if current_path.startswith(link["url"])]
    if matches:
        max(matches, key=lambda link: len(link["url"]))["active"] = True
    return sections
