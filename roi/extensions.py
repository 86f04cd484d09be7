"""What roi contributes to lower apps' pages (agentops/extensions.py): its navigation entries.
Registered from RoiConfig.ready()."""

from __future__ import annotations

from agentops.extensions import NAV, NavItem, register
from agentops.permissions import FINANCE

NAV_ITEMS = [
    NavItem("ROI", "ROI report", "roi:report", (FINANCE,), 400),
    NavItem("ROI", "Assumptions", "roi:assumptions", (FINANCE,), 410),
    NavItem("ROI", "Spend watch", "roi:spend", (FINANCE,), 420),
]


def register_contributions() -> None:
    for item in NAV_ITEMS:
        register(NAV, item)
