"""Retention's synchronous hook for higher apps (handoffs, roi).

Stored telemetry is announced after commit through ``monitoring.announcements``; this signal is the
one thing that must happen *inside* a monitoring transaction: receivers read the rows about to be
dropped before they are gone.
"""

from django.dispatch import Signal

# kwargs: before: datetime (UTC). Sent by retention, inside the transaction that drops telemetry that
# started before ``before`` (whole day partitions of runs, steps, scores, escalations, edges), before
# the drop. Receivers keep what they need of it (tickets snapshot their context packet, ROI archives
# its daily figures). A receiver may return a callable: it is called after the drop, in the same
# transaction, once every receiver has read the rows (to clear references to them).
telemetry_expiring = Signal()
