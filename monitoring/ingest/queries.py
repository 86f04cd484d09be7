"""Read side of the inbox: the dead-letter list, and announcements that could not be delivered."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.paginator import Paginator

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


def dead_letters(page: object = 1) -> DeadLetters:
    """One page of the dead-letter list, newest first. ``page`` as given in a URL: anything that is
    not a page number shows the first page, a number past the end the last (as Paginator.get_page)."""
    dead = InboxBatch.objects.filter(status=InboxBatch.Status.DEAD)
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
