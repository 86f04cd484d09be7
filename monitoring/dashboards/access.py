"""Who besides operations may open a run's trace view or the runs of a session.

Monitoring pages are for the Operations role. A higher app may admit other users to one run or one
session (handoffs: a reviewer, for the run and session of a ticket they may see), by registering a
rule from its AppConfig.ready(); monitoring never imports it. A rule takes (user, run) or
(user, session id) and returns True to admit; any rule admitting is enough.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest

from monitoring.ingest.models import Run

RunRule = Callable[[object, Run], bool]
SessionRule = Callable[[object, str], bool]
_RUN_RULES: list[RunRule] = []
_SESSION_RULES: list[SessionRule] = []


def register_run_access(rule: RunRule) -> None:
    if rule not in _RUN_RULES:
        _RUN_RULES.append(rule)


def register_session_access(rule: SessionRule) -> None:
    if rule not in _SESSION_RULES:
        _SESSION_RULES.append(rule)


def may_open_run(request: HttpRequest, trace_id: str) -> bool:
    """For ``role_required(unless=...)`` on the trace view: a registered rule admits this run."""
    if not _RUN_RULES or not request.user.is_authenticated:
        return False
    run = Run.objects.filter(trace_id=trace_id).only("id", "session_id", "agent_id").first()
    return run is not None and any(rule(request.user, run) for rule in _RUN_RULES)


def may_open_session(request: HttpRequest) -> bool:
    """For the run explorer: admitted only with a ``session`` filter that a registered rule admits
    (every run listed then belongs to that session)."""
    session = (request.GET.get("session") or "").strip()
    if not session or not request.user.is_authenticated:
        return False
    return any(rule(request.user, session) for rule in _SESSION_RULES)
