"""Which agent invocation a stored span belongs to: the invocation that raised an escalation, the one
that failed. Read side of ``monitoring.ingest.invocations``, for the apps that attribute something
that happened on a span (a ticket, a failure) to the agent that did it and to that agent's own
prompt version, rather than to the trace's root agent.

A span belongs to the invocation of its nearest ancestor (itself included) that starts one; the
stored invocations are those heads, so the walk up the stored parent links stops at the first span
that has an invocation row. Two queries for any number of spans, each bounded by the runs' time
span (a step and an invocation start within their run), so they read only those days' partitions.

Agents and prompt versions are fetched by id afterwards rather than joined: joined, a day partition
without statistics yet (its first minute) makes the planner walk the (agent, time) index of every
agent over the whole range instead of looking the runs up (measured 130 ms against 0.2 ms).
"""

from __future__ import annotations

from collections.abc import Iterable

from monitoring.ingest.models import Invocation, Run, Step


def owning_invocations(spans: Iterable[tuple[Run, str, int | None]]) -> dict[tuple[int, str], Invocation]:
    """(run id, span id) -> the stored invocation that span belongs to, for each (run, span id, agent
    id) given. A span that is not stored (written without its steps, as an escalation row can be)
    belongs to the first invocation of its agent in the run, when the agent is given and has one.
    A span with no invocation found is left out: callers keep what they knew."""
    spans = list(spans)
    runs = {run.pk: run for run, _, _ in spans}
    if not runs:
        return {}
    start = min(run.started_at for run in runs.values())
    end = max(run.ended_at for run in runs.values())
    parents = {
        (run_id, span_id): parent
        for run_id, span_id, parent in Step.objects.filter(
            run_id__in=runs, started_at__gte=start, started_at__lte=end,
        ).values_list("run_id", "span_id", "parent_span_id")
    }
    heads = {
        (i.run_id, i.span_id): i
        for i in Invocation.objects.filter(run_id__in=runs, started_at__gte=start, started_at__lte=end)
        .prefetch_related("agent", "prompt")  # not joined: see the module's note on plans
    }
    first_of_agent: dict[tuple[int, int], Invocation] = {}
    for invocation in sorted(heads.values(), key=lambda i: (i.started_at, i.span_id), reverse=True):
        first_of_agent[(invocation.run_id, invocation.agent_id)] = invocation
    found: dict[tuple[int, str], Invocation] = {}
    for run, span_id, agent_id in spans:
        key, seen = (run.pk, span_id), set()
        if key not in parents:
            if (run.pk, agent_id) in first_of_agent:
                found[key] = first_of_agent[(run.pk, agent_id)]
            continue
        while key in parents and key not in seen:  # ``seen`` guards a malformed cycle
            if key in heads:
                found[(run.pk, span_id)] = heads[key]
                break
            seen.add(key)
            key = (run.pk, parents[key])
    return found


def failing_invocations(runs: Iterable[Run]) -> dict[int, Invocation]:
    """Run id -> the invocation where the run failed (the one carrying the run's failure fingerprint:
    the invocation of its first failed step, or of its escalating step), for runs that have one. One
    query, bounded by the runs' time span."""
    runs = [run for run in runs if run.fingerprint]
    if not runs:
        return {}
    start = min(run.started_at for run in runs)
    end = max(run.ended_at for run in runs)
    return {
        i.run_id: i
        for i in Invocation.objects.filter(run_id__in=[run.pk for run in runs], started_at__gte=start,
                                           started_at__lte=end).exclude(fingerprint="")
        .prefetch_related("agent", "prompt")
    }
