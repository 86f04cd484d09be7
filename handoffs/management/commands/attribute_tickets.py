"""Name the agent invocation of tickets opened before tickets named one, in chunks that can be resumed."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from handoffs import context, routing
from handoffs.models import Ticket


class Command(BaseCommand):
    help = ("Attribute stored tickets to their agent invocation (run it after monitoring's backfill_invocations): "
            "an escalation's ticket takes the agent and own prompt version of the invocation that raised it, a "
            "rule ticket the run's top invocation. Chunk by chunk; interrupt at any time and run again.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chunk", type=int, default=500, help="tickets per chunk (default 500)")
        parser.add_argument("--after-id", type=int, default=0, help="start after this ticket id (default: the first)")

    def handle(self, *args, chunk: int, after_id: int, **options) -> None:
        if chunk < 1 or after_id < 0:
            raise CommandError("--chunk must be at least 1 and --after-id not negative")
        cursor_id, changed = after_id, 0
        while True:
            done, last = routing.attribute_stored_tickets(cursor_id, chunk)
            if last is None:
                break
            changed += done
            context.snapshot(list(Ticket.objects.filter(pk__gt=cursor_id, pk__lte=last, run__isnull=False)))
            cursor_id = last
            self.stdout.write(f"tickets up to #{last}: {changed} attributed so far")
        self.stdout.write(self.style.SUCCESS(f"done: {changed} tickets attributed"))
