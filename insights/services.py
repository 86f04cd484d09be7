"""Insight writes: marking failure groups and starting prompt drafts from the cases behind them.

Each service owns its transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from agentops.models import Agent, PromptVersion
from handoffs.models import RootCause, Ticket
from insights.models import FailureGroup, PromptDraftCase
from monitoring.models import Invocation, Run
from monitoring.rollups import insight_queries as insight_cells

MAX_CASES_PER_DRAFT = 20


class InsightError(ValueError):
    """A request the insights services refuse, with a message fit to show the user."""


def mark_failure_group(fingerprint: str, *, root_cause: RootCause | None, note: str, owner, by) -> FailureGroup:
    """Record the root cause, note and owner of a failure group (create or update).

    Stored against the fingerprint, so it applies to runs that arrive later with the same
    fingerprint too. The group must have at least one run: fingerprints are not free text. A retired
    root cause can be kept on a group that already has it, not newly chosen.
    """
    if not insight_cells.group_agents(fingerprint) and not Run.objects.filter(fingerprint=fingerprint).exists():
        raise InsightError("No runs have this failure fingerprint.")
    now = timezone.now()
    with transaction.atomic():
        group, _created = FailureGroup.objects.select_for_update().get_or_create(
            fingerprint=fingerprint, defaults={"created_at": now}
        )
        if root_cause is not None and not root_cause.is_active and root_cause.pk != group.root_cause_id:
            raise InsightError(f"The root cause {root_cause.name!r} is retired; choose an active one.")
        group.root_cause, group.note, group.owner, group.updated_by, group.updated_at = (
            root_cause, note.strip(), owner, by, now,
        )
        group.save()
    return group


def annotation_for_fingerprint(fingerprint: str) -> FailureGroup | None:
    """The operator's notes for a fingerprint (e.g. for handoffs to suggest a root cause)."""
    if not fingerprint:
        return None
    return FailureGroup.objects.filter(fingerprint=fingerprint).select_related("root_cause").first()


@dataclass(frozen=True)
class DraftCase:
    run_id: int | None
    ticket_id: int | None = None
    fingerprint: str = ""
    note: str = ""


def create_prompt_draft(agent: Agent, *, author, change_note: str, cases: list[DraftCase]) -> PromptVersion:
    """A new inactive prompt version of ``agent`` (text copied from the active or latest one),
    linked to the cases that motivated it.

    The agent row is locked while the next version number is chosen, so two drafts started at
    once get different numbers instead of one failing on the unique constraint.
    """
    if not cases:
        raise InsightError("A prompt draft needs at least one motivating run or ticket.")
    with transaction.atomic():
        Agent.objects.select_for_update().filter(pk=agent.pk).first()
        versions = PromptVersion.objects.filter(agent=agent)
        base = versions.filter(is_active=True).first() or versions.order_by("-version").first()
        next_version = (versions.aggregate(m=Max("version"))["m"] or 0) + 1
        draft = PromptVersion.objects.create(
            agent=agent, version=next_version, text=base.text if base else "", is_active=False,
            change_note=change_note.strip()[:500], author=author,
        )
        PromptDraftCase.objects.bulk_create(
            PromptDraftCase(prompt_version=draft, run_id=c.run_id, ticket_id=c.ticket_id,
                            fingerprint=c.fingerprint, note=c.note)
            for c in cases[:MAX_CASES_PER_DRAFT]
        )
    return draft


def start_draft_from_group(fingerprint: str, agent: Agent, *, author, change_note: str = "") -> PromptVersion:
    """Draft a new prompt version of ``agent`` motivated by its latest runs in a failure group."""
    # The runs whose failure was this agent's (its invocation failed), also as a sub-agent.
    run_ids = list(Invocation.objects.filter(fingerprint=fingerprint, agent=agent).order_by("-started_at", "-run_id")
                   .values_list("run_id", flat=True)[:MAX_CASES_PER_DRAFT])
    if not run_ids:
        raise InsightError(f"{agent.name} has no runs in this failure group.")
    note = change_note or f"Draft to address failure group {fingerprint[:10]} ({len(run_ids)} cases)."
    return create_prompt_draft(agent, author=author, change_note=note,
                               cases=[DraftCase(run_id=r, fingerprint=fingerprint) for r in run_ids])


def start_draft_from_ticket(ticket_id: int, *, author, change_note: str = "") -> PromptVersion:
    """Draft a new prompt version of the ticket's agent, keeping the reviewer's corrected answer."""
    ticket = Ticket.objects.filter(pk=ticket_id).select_related("agent", "run").first()
    if ticket is None:
        raise InsightError(f"Ticket {ticket_id} does not exist.")
    if not ticket.corrected_answer.strip():
        raise InsightError("This ticket has no corrected answer to learn from.")
    run = ticket.run
    note = change_note or f"Draft from ticket #{ticket.pk}: reviewer corrected the agent's answer."
    case = DraftCase(run_id=run.pk if run else None, ticket_id=ticket.pk,
                     fingerprint=run.fingerprint if run else "", note=ticket.corrected_answer)
    return create_prompt_draft(ticket.agent, author=author, change_note=note, cases=[case])
