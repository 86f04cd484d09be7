"""What of monitoring a reviewer may open: the trace of a ticket's run and the runs of a ticket's
session, for any ticket they may see (reviewers see every ticket). Nothing else of monitoring.
Registered with monitoring.dashboards.access in HandoffsConfig.ready()."""

from __future__ import annotations

from agentops.permissions import REVIEWERS, has_role

from .models import Ticket


def reviewer_may_open_run(user, run) -> bool:
    """A reviewer may open a run that has a ticket, or that belongs to a ticket's session (1 query)."""
    if not has_role(user, REVIEWERS):
        return False
    tickets = Ticket.objects.filter(run_id=run.pk)
    if run.session_id:
        tickets = tickets | Ticket.objects.filter(session_id=run.session_id)
    return tickets.exists()


def reviewer_may_open_session(user, session_id: str) -> bool:
    """A reviewer may list the runs of a session one of the tickets belongs to (1 query)."""
    return has_role(user, REVIEWERS) and Ticket.objects.filter(session_id=session_id).exists()
