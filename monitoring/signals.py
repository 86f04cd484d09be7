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

# kwargs: before: datetime (UTC). Sent by retention, inside the transaction that drops telemetry that
# started before ``before`` (whole day partitions of runs, steps, scores, escalations, edges), before
# the drop. Receivers keep what they need of it (tickets snapshot their context packet, ROI archives
# its daily figures). A receiver may return a callable: it is called after the drop, in the same
# transaction, once every receiver has read the rows (to clear references to them).
telemetry_expiring = Signal()
