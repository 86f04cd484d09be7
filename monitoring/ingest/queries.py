"""Read side of the inbox: the dead-letter list, and announcements that could not be delivered."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.paginator import Paginator

from agentops.models import Agent
from agentops.scoping import department_ids, scope_agents
from monitoring.ingest.models import Announcement
from monitoring.intake.models import InboxBatch

DEAD_LETTER_PAGE = 50


@dataclass(frozen=True)
class DeadLetters:
    batches: list[InboxBatch]  # one page, newest first
    total: int
    page: int  # 1-based
    pages: int

    @property
    def newer_page(self) -> int | None:
        return self.page - 1 if self.page > 1 else None

    @property
    def older_page(self) -> int | None:
        return self.page + 1 if self.page < self.pages else None


def scoped_batches(batches, user):
    """Batches a user limited to departments may see: those sent with a key restricted to one of their
    agents. A batch of an unrestricted key may hold any department's telemetry, so it is not theirs."""
    if department_ids(user) is None:
        return batches
    slugs = list(scope_agents(Agent.objects.all(), user).values_list("slug", flat=True))
    return batches.filter(restricted_to__in=slugs)


def dead_letters(page: object = 1, user=None) -> DeadLetters:
    """One page of the dead-letter list, newest first. ``page`` as given in a URL: anything that is
    not a page number shows the first page, a number past the end the last (as Paginator.get_page)."""
    dead = scoped_batches(InboxBatch.objects.filter(status=InboxBatch.Status.DEAD), user)
    rows = dead.defer("payload").select_related("api_key").order_by("-received_at", "-id")
    current = Paginator(rows, DEAD_LETTER_PAGE).get_page(page)
    return DeadLetters(list(current.object_list), current.paginator.count, current.number, current.paginator.num_pages)


FAILED_ANNOUNCEMENTS_SHOWN = 20


@dataclass(frozen=True)
class FailedAnnouncements:
    rows: list[Announcement]  # the newest FAILED_ANNOUNCEMENTS_SHOWN
    total: int


def failed_announcements() -> FailedAnnouncements:
    """Announcements whose receivers kept failing (two queries)."""
    failed = Announcement.objects.filter(status=Announcement.Status.FAILED)
    return FailedAnnouncements(list(failed.order_by("-id")[:FAILED_ANNOUNCEMENTS_SHOWN]), failed.count())
