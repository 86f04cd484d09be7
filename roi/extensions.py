"""What roi contributes to lower apps' pages (agentops/extensions.py): its navigation entries.
Registered from RoiConfig.ready()."""

from __future__ import annotations

from agentops.extensions import NAV, NavItem
from agentops.permissions import FINANCE

NAV_ITEMS = [
    NavItem("ROI", "ROI report", "roi:report", (FINANCE,), 400),
    NavItem("ROI", "Assumptions", "roi:assumptions", (FINANCE,), 410),
    NavItem("ROI", "Spend watch", "roi:spend", (FINANCE,), 420),
]


CONTRIBUTIONS = {
    NAV: NAV_ITEMS,
}
