"""Agent-to-agent / agent-to-tool / agent-to-queue traffic edges (insights: the agent map).

Contract used by monitoring.services (ingest): refresh_for_runs(run_ids) is called inside the
batch's transaction after rows are written; it must be idempotent like rollups.refresh_for_runs.
"""

from __future__ import annotations


def refresh_for_runs(run_ids: list[int]) -> None:
    """Placeholder until the insights work lands."""
    return None
