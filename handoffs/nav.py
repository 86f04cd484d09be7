"""The navigation badge: how many tickets the signed-in reviewer holds (claimed or pending)."""

from __future__ import annotations

from .models import HELD_STATUSES, Ticket


def open_claims_badge(user) -> int | None:
    """One COUNT over the (assignee, status) index; None hides the badge."""
    if not user.is_authenticated:
        return None
    return Ticket.objects.filter(assignee=user, status__in=HELD_STATUSES).count() or None


def ticket_links_for_run(run) -> list[tuple[str, str]]:
    """Links from a run's trace view to its handoff tickets (registered with monitoring.views)."""
    from django.urls import reverse

    from .models import Ticket

    return [
        (f"Handoff ticket #{pk} ({status})", reverse("handoffs:ticket", args=[pk]))
        for pk, status in Ticket.objects.filter(run=run).order_by("id").values_list("id", "status")
    ]
