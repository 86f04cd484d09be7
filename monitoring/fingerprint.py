"""Deterministic failure fingerprints (insights: root causes). Pure: no ORM queries.

Contract used by monitoring.services (ingest): after a run's aggregates are computed,
    run.fingerprint = fingerprint_run(run, steps)
for runs that failed or escalated (else ""). ``steps`` are the run's Step instances (unsaved or saved).
"""

from __future__ import annotations

import hashlib


def fingerprint_run(run, steps) -> str:
    """Placeholder: agent + error type. The insights work replaces this with the full fingerprint."""
    if run.status != "error" and not run.has_escalation:
        return ""
    key = f"{run.agent_id}|{run.error_type}|{'escalated' if run.has_escalation else ''}"
    return hashlib.sha1(key.encode()).hexdigest()
