"""Give runs stored before invocations existed their invocations, in chunks that can be resumed."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from monitoring.ingest import edges, invocations

# Runs that have no invocation yet, in id order after a cursor (keyset pagination: each chunk reads
# one index range, however far the backfill has got).
_NEXT_SQL = (
    "SELECT r.id FROM monitoring_run r WHERE r.id > %s"
    " AND NOT EXISTS (SELECT 1 FROM monitoring_invocation i WHERE i.run_id = r.id)"
    " ORDER BY r.id LIMIT %s"
)
# --failed: every failed or escalated run, to put its fingerprint on the invocation where it failed
# (runs stored before invocations carried it); their insight cells follow.
_NEXT_FAILED_SQL = "SELECT r.id FROM monitoring_run r WHERE r.id > %s AND r.fingerprint <> '' ORDER BY r.id LIMIT %s"


class Command(BaseCommand):
    help = ("Derive agent invocations for stored runs that have none (runs stored before invocations existed), "
            "chunk by chunk, each chunk in its own transaction with its rollup cells and agent-map edges "
            "recomputed. Interrupt at any time and run again: it carries on with the runs still without "
            "invocations.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chunk", type=int, default=2000, help="runs per transaction (default 2000)")
        parser.add_argument("--after-id", type=int, default=0, help="start after this run id (default: the first)")
        parser.add_argument("--limit", type=int, default=0, help="stop after this many runs (0: all)")
        parser.add_argument("--failed", action="store_true",
                            help="re-derive every failed or escalated run instead (their failure on the failing invocation)")

    def handle(self, *args, chunk: int, after_id: int, limit: int, failed: bool = False, **options) -> None:
        if chunk < 1 or after_id < 0 or limit < 0:
            raise CommandError("--chunk must be at least 1, --after-id and --limit not negative")
        cursor_id, runs, written, started = after_id, 0, 0, time.monotonic()
        while not limit or runs < limit:
            size = min(chunk, limit - runs) if limit else chunk
            with connection.cursor() as cursor:
                cursor.execute(_NEXT_FAILED_SQL if failed else _NEXT_SQL, [cursor_id, size])
                ids = [run_id for (run_id,) in cursor.fetchall()]
            if not ids:
                break
            written += invocations.rebuild_for_runs(ids)
            edges.refresh_for_runs(ids)  # the map's agent edges follow the invocations
            runs += len(ids)
            cursor_id = ids[-1]
            elapsed = time.monotonic() - started
            self.stdout.write(f"runs up to id {cursor_id}: {runs} runs, {written} invocations, "
                              f"{runs / elapsed if elapsed else 0:.0f} runs/s (resume with --after-id {cursor_id})")
        self.stdout.write(self.style.SUCCESS(f"done: {runs} runs, {written} invocations"))
