"""Deterministic failure fingerprints (insights: root causes). Pure: no ORM queries.

Contract used by monitoring.services (ingest): after a run's aggregates are computed,
    run.fingerprint = fingerprint_run(run, steps)
for runs that failed or escalated (else ""). ``steps`` are the run's Step instances (unsaved or saved).

A fingerprint names *where and how* a run failed, not *which* case failed, so identical failures
group together: the agent that failed first, the kind and name of the failing step (span names are
low-cardinality by OpenTelemetry convention, so they are kept as sent), the tool, the error type and
the error message with everything case-specific (ids, numbers, UUIDs, hex digests,
e-mail addresses, URLs, quoted values) replaced by placeholders. Different tools or error types
always give different fingerprints.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

MAX_MESSAGE_CHARS = 200
ESCALATION_EVENT = "agentops.escalation"
ESCALATION_REASON = "agentops.escalation.reason"

# Order matters: longer, more specific shapes first so "a1b2…@x.com" is an e-mail, not hex.
_NORMALISERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"https?://\S+", re.I), "<url>"),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<uuid>"),
    (re.compile(r"\b(?:0x)?(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{6,}\b", re.I), "<hex>"),
    (re.compile(r"'[^']*'|\"[^\"]*\""), "<str>"),
    # Identifiers that mix letters and digits (ORD-88121, cust_42, A12B): keep the prefix shape only.
    (re.compile(r"\b([A-Za-z]+[-_]?)\d[\w-]*"), r"\1<id>"),
    (re.compile(r"\d+(?:[.,:]\d+)*"), "<n>"),
    (re.compile(r"\s+"), " "),
)


def normalise_message(message: str) -> str:
    """The message with case-specific values replaced, lowercased, trimmed to a stable length."""
    text = message.strip()
    for pattern, replacement in _NORMALISERS:
        text = pattern.sub(replacement, text)
    return text.strip().lower()[:MAX_MESSAGE_CHARS]


@dataclass(frozen=True)
class FailureSignature:
    """The readable parts a fingerprint is hashed from; also what the root-causes page shows."""

    agent_id: int | None  # the agent whose step failed first (or that escalated)
    kind: str  # step kind of the failing step, or "escalation"
    step_name: str
    tool_name: str
    error_type: str
    message: str  # normalised

    @property
    def fingerprint(self) -> str:
        parts = (self.agent_id or "", self.kind, self.step_name, self.tool_name, self.error_type, self.message)
        return hashlib.sha1("\x1f".join(str(p) for p in parts).encode()).hexdigest()


def first_failed_step(steps):
    """The error step that ended first (ties: the deepest, then span id), or None.

    The earliest-ending error span is where the failure started: its ancestors usually fail
    *because* it failed, and end later.
    """
    errors = [s for s in steps if s.status == "error"]
    if not errors:
        return None
    depth = _depths(steps)
    return min(errors, key=lambda s: (s.ended_at, -depth.get(s.span_id, 0), s.span_id))


def _depths(steps) -> dict[str, int]:
    parent = {s.span_id: s.parent_span_id for s in steps}
    depths: dict[str, int] = {}
    for span_id in parent:
        depth, current, seen = 0, parent.get(span_id), {span_id}
        while current and current in parent and current not in seen:
            seen.add(current)
            depth += 1
            current = parent[current]
        depths[span_id] = depth
    return depths


def _escalation_step(steps):
    """The first step carrying an escalation event, with the event's reason."""
    for step in sorted(steps, key=lambda s: (s.started_at, s.span_id)):
        for event in step.events or []:
            if isinstance(event, dict) and event.get("name") == ESCALATION_EVENT:
                attributes = event.get("attributes") or {}
                return step, str(attributes.get(ESCALATION_REASON, "") if isinstance(attributes, dict) else "")
    return None, ""


def failure_signature(run, steps) -> FailureSignature | None:
    """The signature of a failed or escalated run; None for a good run."""
    steps = list(steps)
    if run.status == "error":
        step = first_failed_step(steps)
        if step is not None:
            return FailureSignature(
                agent_id=step.agent_id or run.agent_id,
                kind=step.kind,
                step_name=step.name[:MAX_MESSAGE_CHARS],
                tool_name=step.tool_name,
                error_type=step.error_type or run.error_type,
                message=normalise_message(step.error_message),
            )
        return FailureSignature(run.agent_id, "run", "", "", run.error_type, "")
    if run.has_escalation:
        step, reason = _escalation_step(steps)
        return FailureSignature(
            agent_id=(step.agent_id if step is not None else None) or run.agent_id,
            kind="escalation",
            step_name=step.name[:MAX_MESSAGE_CHARS] if step is not None else "",
            tool_name="",
            error_type="escalated",
            message=normalise_message(reason),
        )
    return None


def fingerprint_run(run, steps) -> str:
    """sha1 hex of the run's failure signature, or "" for a run that neither failed nor escalated."""
    signature = failure_signature(run, steps)
    return signature.fingerprint if signature is not None else ""
