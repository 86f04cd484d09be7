"""Where a failed run went wrong first (the trace view's failure box)."""

from __future__ import annotations

from dataclasses import dataclass

from agentops.models import Agent
from monitoring.ingest.fingerprint import first_failed_step
from monitoring.ingest.models import Step


@dataclass
class FailureOrigin:
    run_id: int
    step: Step
    agent: Agent
    chain: list[Agent]  # agents from the run's root to the one that failed first


def failure_origin(run_id: int) -> FailureOrigin | None:
    """Which agent in the chain failed first: the earliest-ending error span, and its agent ancestry.

    One query. None when the run has no error step.
    """
    steps = list(Step.objects.filter(run_id=run_id).select_related("agent"))
    origin = first_failed_step(steps)
    if origin is None:
        return None
    by_span = {s.span_id: s for s in steps}
    chain: list[Agent] = []
    current, seen = origin, set()
    while current is not None and current.span_id not in seen:
        seen.add(current.span_id)
        if not chain or chain[-1].id != current.agent_id:
            chain.append(current.agent)
        current = by_span.get(current.parent_span_id)
    chain.reverse()
    return FailureOrigin(run_id=run_id, step=origin, agent=origin.agent, chain=chain)
