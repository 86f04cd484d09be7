"""The one channel from monitoring to higher apps (handoffs, roi).

Both signals are sent by the ingest service inside the batch's transaction, after the rows are
written, so a receiver's writes commit or roll back with the batch. Receivers must be idempotent:
a batch can be processed twice (replay, sweeper), and the signal then fires again for the same ids.
"""

from django.dispatch import Signal

# kwargs: escalation_ids: list[int] (monitoring.Escalation primary keys newly stored or re-seen)
escalations_recorded = Signal()

# kwargs: run_ids: list[int] (monitoring.Run primary keys created or updated by the batch)
runs_recorded = Signal()

# kwargs: before: datetime (UTC). Sent by retention before telemetry that started before ``before``
# is dropped (whole day partitions of runs, steps, scores, escalations, edges). Receivers keep what
# they need of it (tickets snapshot their context packet) and drop references to it.
telemetry_expiring = Signal()
