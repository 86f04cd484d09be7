"""The "passing experiment for the active prompt version" criterion, pluggable.

Experiments live in an ``evals`` app when one is installed. Without it the criterion reads "not
available" and never blocks a promotion. A provider is a function taking a list of agents and
returning ``{agent id: ExperimentEvidence}`` (agents without an experiment may be left out: they fail).
``register_provider`` replaces the built-in lookup (tests, or another experiments source).
"""

from __future__ import annotations

from collections.abc import Callable

from django.apps import apps

from agentops.models import Agent

from .criteria import ExperimentEvidence

Provider = Callable[[list[Agent]], dict[int, ExperimentEvidence] | None]
_provider: Provider | None = None


def register_provider(provider: Provider | None) -> None:
    global _provider
    _provider = provider


def available() -> bool:
    return _provider is not None or apps.is_installed("evals")


def evidence_for(agents: list[Agent]) -> dict[int, ExperimentEvidence] | None:
    """Evidence per agent, or None when no experiments source exists (the criterion is skipped)."""
    if _provider is not None:
        found = _provider(agents)
    elif apps.is_installed("evals"):
        found = _evals_provider(agents)
    else:
        found = None
    if found is None:
        return None
    missing = ExperimentEvidence(False, "no experiment for the active prompt version")
    return {a.id: found.get(a.id, missing) for a in agents}


def _evals_provider(agents: list[Agent]) -> dict[int, ExperimentEvidence] | None:
    # Wired to the evals app's selector once it exists; until then an installed evals app leaves the
    # criterion "not available" rather than failing every agent.
    return None
