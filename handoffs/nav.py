"""The navigation badge: how many tickets the signed-in reviewer holds (claimed or pending)."""

from __future__ import annotations

from .models import HELD_STATUSES, Ticket


def open_claims_badge(user) -> int | None:
    """One COUNT over the (assignee, status) index; None hides the badge."""
    if not user.is_authenticated:
        return None
    return Ticket.objects.filter(assignee=user, status__in=HELD_STATUSES).count() or None
