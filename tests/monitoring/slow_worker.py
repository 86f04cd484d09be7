"""A Celery worker that stalls once so a test can kill it there. Usage:
python tests/monitoring/slow_worker.py MARKER_FILE [ingest|delivery]

ingest (default): the first ingest stalls inside the batch transaction, after the rows are written.
delivery: the first announcement delivery stalls after the batch committed, before any receiver ran."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")

import django  # noqa: E402

django.setup()

from agentops.celery import app  # noqa: E402
from monitoring.ingest import outbox  # noqa: E402

MARKER = Path(sys.argv[1])
MODE = sys.argv[2] if len(sys.argv) > 2 else "ingest"


def stall(note: str) -> None:
    if not MARKER.exists():
        MARKER.write_text(note)
        time.sleep(60)  # the test kills us long before this ends


if MODE == "ingest":
    announce = outbox.announce

    def stalling_announce(*, run_ids=(), escalation_ids=()):
        row = announce(run_ids=run_ids, escalation_ids=escalation_ids)  # the last write before the rollups
        stall(",".join(map(str, run_ids)))
        return row

    outbox.announce = stalling_announce
else:
    deliver_due = outbox.deliver_due

    def stalling_deliver_due(**kwargs):
        stall("delivery")
        return deliver_due(**kwargs)

    outbox.deliver_due = stalling_deliver_due

if __name__ == "__main__":
    app.worker_main(["worker", "--pool=solo", "--concurrency=1", "--loglevel=WARNING", "--without-gossip",
                     "--without-mingle", "--without-heartbeat"])
