"""A Celery worker whose first ingest stalls inside the batch transaction (after rows are written),
so a test can kill it mid-batch. Usage: python tests/monitoring/slow_worker.py MARKER_FILE"""

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
from monitoring.signals import runs_recorded  # noqa: E402

MARKER = Path(sys.argv[1])


def stall(sender, run_ids, **kwargs) -> None:
    if not MARKER.exists():
        MARKER.write_text(",".join(map(str, run_ids)))
        time.sleep(60)  # the test kills us long before this ends


runs_recorded.connect(stall, weak=False)

if __name__ == "__main__":
    app.worker_main(["worker", "--pool=solo", "--concurrency=1", "--loglevel=WARNING", "--without-gossip",
                     "--without-mingle", "--without-heartbeat"])
