"""What the agent knew, kept on the ticket: a snapshot of its run's context packet, naming the agent
invocation the ticket is about (in a multi-agent trace, the sub-agent that raised the escalation).

Raw telemetry is dropped after ``TELEMETRY_RETENTION_DAYS``; a ticket is a business record. The packet
the ticket page shows (the run's status, the customer's question and the agent's answers, its steps
and the tools it tried) is copied into ``Ticket.context`` when the ticket opens, taken again just
before the run's day is dropped (``monitoring.signals.telemetry_expiring``: by then the run has all
its steps), and read from there once the run is gone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime

from django.utils import timezone

from agentops.models import Agent
from monitoring.models import Run, Step

from .models import Ticket

MAX_STEPS = 300  # as many as the ticket page lists
_TEXT_CAP = 2000  # the page shows at most this much of a step's output
RUN_FIELDS = ("trace_id", "name", "status", "error_type", "quality_score", "input_preview", "output_preview",
              "prompt_version", "started_at")
STEP_FIELDS = ("name", "kind", "tool_name", "status", "error_type", "error_message", "started_at", "duration_ms",
               "output", "model")
_TIMES = {"started_at"}
_CAPPED = {"output", "error_message"}


def steps_of(runs: Iterable[Run]) -> dict[int, list[Step]]:
    """The first MAX_STEPS steps of each run, by start. One query, bounded by the runs' time span so
    that it reads only their day partitions (a step starts within its run)."""
    runs = list(runs)
    if not runs:
        return {}
    start = min(run.started_at for run in runs)
    end = max(run.ended_at for run in runs)
    found: dict[int, list[Step]] = defaultdict(list)
    for step in (
        Step.objects.filter(run_id__in=[run.pk for run in runs], started_at__gte=start, started_at__lte=end)
        .only(*STEP_FIELDS, "run_id", "input")
        .order_by("run_id", "started_at", "id")
    ):
        if len(found[step.run_id]) < MAX_STEPS:
            found[step.run_id].append(step)
    return found


def packet(run: Run, steps: list[Step], invocation: dict | None = None) -> dict:
    """The snapshot of one run's context packet (JSON-ready). ``invocation``: the agent invocation the
    ticket is about (``invocation_of``), named beside the trace."""
    found = {
        "taken_at": timezone.now().isoformat(),
        "run": {name: _json(name, getattr(run, name)) for name in RUN_FIELDS},
        "steps": [{name: _json(name, getattr(step, name)) for name in STEP_FIELDS} for step in steps],
    }
    if invocation is not None:
        found["invocation"] = invocation
    return found


def invocation_of(ticket: Ticket, run: Run, agent_names: dict[int, str]) -> dict:
    """The invocation that raised the ticket's escalation (or the run's top one for a rule ticket):
    its trace and span, its agent and that agent's own prompt version."""
    return {"trace_id": run.trace_id, "span_id": ticket.invocation_span_id, "agent_id": ticket.agent_id,
            "agent": agent_names.get(ticket.agent_id, ""), "prompt_version": ticket.prompt_version}


def _json(name: str, value):
    if isinstance(value, datetime):
        return value.isoformat()
    if name in _CAPPED and isinstance(value, str):
        return value[:_TEXT_CAP]
    return value


def restore(context: dict) -> tuple[Run | None, list[Step]]:
    """Unsaved Run and Step objects from a snapshot (the ticket page renders them like stored ones)."""
    if not context.get("run"):
        return None, []
    run = Run(**_parsed(context["run"], RUN_FIELDS))
    return run, [Step(**_parsed(fields, STEP_FIELDS)) for fields in context.get("steps", [])]


def _parsed(fields: dict, names: tuple[str, ...]) -> dict:
    values = {name: fields[name] for name in names if name in fields}
    for name in _TIMES & values.keys():
        values[name] = datetime.fromisoformat(values[name])
    return values


def snapshot(tickets: list[Ticket]) -> None:
    """Store each ticket's context packet from its run as stored now (three reads, one write)."""
    run_ids = {t.run_id for t in tickets if t.run_id}
    if not run_ids:
        return
    runs = {run.pk: run for run in Run.objects.filter(pk__in=run_ids).only(*RUN_FIELDS, "ended_at")}
    steps = steps_of(runs.values())
    names = dict(Agent.objects.filter(pk__in={t.agent_id for t in tickets}).values_list("pk", "name"))
    changed = []
    for ticket in tickets:
        run = runs.get(ticket.run_id)
        if run is not None:
            ticket.context = packet(run, steps.get(run.pk, []), invocation_of(ticket, run, names))
            changed.append(ticket)
    Ticket.objects.bulk_update(changed, ["context"], batch_size=500)


def keep_expiring(before: datetime, *, chunk: int = 500) -> Callable[[], None]:
    """Before telemetry that started before ``before`` is dropped: snapshot the context of every
    ticket whose run goes (complete now). Returns what to do once the rows are gone: clear those
    tickets' run and escalation (SET_NULL, as the foreign keys say; no database constraint does it),
    after every other receiver has read them (ROI counts a run with a ticket as a handoff)."""
    ids = list(Ticket.objects.filter(run__started_at__lt=before).order_by("id").values_list("id", flat=True))
    for low in range(0, len(ids), chunk):
        snapshot(list(Ticket.objects.filter(pk__in=ids[low:low + chunk])
                      .only("id", "run_id", "context", "agent_id", "prompt_version", "invocation_span_id")))

    def clear_references() -> None:
        for low in range(0, len(ids), chunk):
            Ticket.objects.filter(pk__in=ids[low:low + chunk]).update(run=None, escalation=None)

    return clear_references
