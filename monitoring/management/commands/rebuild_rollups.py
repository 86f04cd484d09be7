"""Recompute rollup cells from raw runs for a time range (after a fix, or for late data)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from monitoring.rollups import cells as rollups


def _parse_moment(value: str, name: str) -> datetime:
    moment = parse_datetime(value) or (parse_datetime(f"{value}T00:00:00") if len(value) == 10 else None)
    if moment is None:
        raise CommandError(f"--{name} must be an ISO date or datetime such as 2026-03-01 or 2026-03-01T12:00Z")
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, UTC)


class Command(BaseCommand):
    help = "Rebuild rollup cells (all tiers, per agent and fleet) from raw runs for whole UTC days."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="start", help="start (ISO, UTC unless an offset is given)")
        parser.add_argument("--to", dest="end", help="end, exclusive (default: now)")
        parser.add_argument("--days", type=int, default=None, help="instead of --from: the last N days")

    def handle(self, *args, start: str | None, end: str | None, days: int | None, **options) -> None:
        end_at = _parse_moment(end, "to") if end else timezone.now()
        if start:
            start_at = _parse_moment(start, "from")
        elif days is not None and days > 0:
            start_at = end_at - timedelta(days=days)
        else:
            raise CommandError("give --from or --days N (N > 0)")
        if start_at >= end_at:
            raise CommandError("--from must be before --to")
        result = rollups.rebuild(start_at, end_at)
        self.stdout.write(
            f"rebuilt {result.start:%Y-%m-%d} .. {result.end:%Y-%m-%d}: {result.minute_cells} minute, "
            f"{result.hour_cells} hour, {result.day_cells} day agent cells (plus fleet cells)"
        )
