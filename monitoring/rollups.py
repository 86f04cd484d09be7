"""Rollup maintenance (live monitoring). Called by the ingest pipeline.

Contract used by monitoring.services (ingest):
    refresh_for_runs(run_ids) is called inside the batch's transaction after runs/steps/scores/
    escalations are written. It must be idempotent: calling it again for the same runs (a replayed
    batch, spans of one trace arriving in several batches) must leave the rollups equal to what a
    rebuild from raw data gives.
"""

from __future__ import annotations


def refresh_for_runs(run_ids: list[int]) -> None:
    """Placeholder until the live-monitoring rollups land."""
    return None
