"""Replay dead-letter telemetry batches (idempotent: replaying stores nothing twice)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from monitoring.ingest import services as ingest_services
from monitoring.ingest import tasks as ingest_tasks
from monitoring.intake.models import InboxBatch


class Command(BaseCommand):
    help = "Put dead-letter inbox batches back in the queue, or process them here with --sync."

    def add_arguments(self, parser) -> None:
        parser.add_argument("ids", nargs="*", type=int, help="batch ids (default: with --all, every dead batch)")
        parser.add_argument("--all", action="store_true", help="replay every dead batch")
        parser.add_argument("--sync", action="store_true", help="process in this process instead of via Celery")

    def handle(self, *args, **options) -> None:
        ids = options["ids"]
        if not ids and not options["all"]:
            raise CommandError("give batch ids or --all")
        dead = InboxBatch.objects.filter(status=InboxBatch.Status.DEAD)
        if ids:
            dead = dead.filter(pk__in=ids)
        targets = list(dead.order_by("received_at").values_list("id", flat=True))
        missing = sorted(set(ids) - set(targets))
        if missing:
            self.stderr.write(f"not in the dead-letter list: {', '.join(map(str, missing))}")
        for batch_id in targets:
            replayed = ingest_services.replay_batch(batch_id)
            if options["sync"]:  # processed here, not queued as well
                status = ingest_services.ingest_batch(batch_id).status
                self.stdout.write(f"batch {batch_id}: {status}")
            else:
                ingest_tasks.enqueue_after_commit(replayed)
        self.stdout.write(f"replayed {len(targets)} batch(es){'' if options['sync'] else ' (queued)'}")
