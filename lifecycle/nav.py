"""The board's navigation badge: how many agents the watch has flagged for a demotion."""

from __future__ import annotations

from agentops.permissions import OPERATIONS, has_role


def flagged_badge(user) -> int | None:
    if not has_role(user, OPERATIONS):
        return None
    from .queries import flagged_count

    return flagged_count() or None
