"""The stage history of a report's agents, added to the ROI export's Assumptions sheet
(contributed on the ``ROI_EXPORT_SECTIONS`` extension point; roi does not import lifecycle)."""

from __future__ import annotations

from datetime import UTC, datetime, time

from roi.exports import ContextSection

from .models import StageEvent

HEADERS = ["Agent", "Occurred (UTC)", "Change", "From", "To", "By", "Approved by", "Override", "Reason"]


def stage_history_section(agent_ids: set[int], period) -> ContextSection | None:
    """Every stage change of the report's agents up to the period's end: the stage each agent was in
    while the figures accrued."""
    if not agent_ids:
        return None
    end = datetime.combine(period.end, time.min, tzinfo=UTC)
    events = (StageEvent.objects.filter(agent_id__in=agent_ids, occurred_at__lt=end)
              .select_related("agent", "actor", "approved_by").order_by("agent__name", "occurred_at", "id"))
    rows = [[e.agent.name, e.occurred_at.astimezone(UTC).replace(tzinfo=None), e.get_kind_display(),
             e.get_from_stage_display(), e.get_to_stage_display(), e.actor.get_username(),
             e.approved_by.get_username() if e.approved_by else "", "yes" if e.override else "", e.reason]
            for e in events]
    return ContextSection("Lifecycle stage history of these agents (up to the period's end)", HEADERS,
                          rows or [["No stage changes recorded for these agents."]])
