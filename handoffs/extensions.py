"""What handoffs contributes to lower apps' pages (agentops/extensions.py): navigation entries with
the reviewer's open-claims badge, and the trace view's links to the run's tickets. Registered from
HandoffsConfig.ready()."""

from __future__ import annotations

from django.urls import reverse

from agentops.extensions import NAV, TRACE_LINKS, Link, NavItem
from agentops.permissions import OPERATIONS, REVIEWERS

from .models import HELD_STATUSES, Ticket


def open_claims_badge(user) -> int | None:
    """How many tickets the signed-in reviewer holds (claimed or pending): one COUNT over the
    (assignee, status) index; None hides the badge."""
    if not user.is_authenticated:
        return None
    return Ticket.objects.filter(assignee=user, status__in=HELD_STATUSES).count() or None


def ticket_links_for_run(run) -> list[Link]:
    """Links from a run's trace view to its handoff tickets."""
    return [
        Link(f"Handoff ticket #{pk} ({status})", reverse("handoffs:ticket", args=[pk]))
        for pk, status in Ticket.objects.filter(run=run).order_by("id").values_list("id", "status")
    ]


NAV_ITEMS = [
    NavItem("Handoffs", "Queues", "handoffs:queue_list", (REVIEWERS, OPERATIONS), 300),
    NavItem("Handoffs", "My tickets", "handoffs:my_tickets", (REVIEWERS,), 310, badge=open_claims_badge,
            badge_title="open claims"),
    NavItem("Handoffs", "Queue metrics", "handoffs:metrics", (OPERATIONS,), 320),
]


CONTRIBUTIONS = {
    NAV: NAV_ITEMS,
    TRACE_LINKS: [ticket_links_for_run],
}
