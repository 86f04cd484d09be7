"""Demo: date each prompt version, and its activation, no later than the first run that used it.

The registry seed creates and activates prompt versions "now", while the telemetry history seeded
after it ran them weeks ago; the agent dashboard marks a version where it became active (the prompt
history), so without this every marker of a fresh demo sits at the moment of seeding. Runs last in
``seed_demo``; idempotent.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TextIO

from django.db.models import Min

from agentops.models import PromptEvent, PromptVersion

# A version is written a little before its first run.
LEAD_TIME = timedelta(hours=1)


def seed(stdout: TextIO) -> None:
    moved = 0
    first_runs = PromptVersion.objects.annotate(first_run=Min("runs__started_at")).filter(first_run__isnull=False)
    for prompt in first_runs:
        written = prompt.first_run - LEAD_TIME
        if written < prompt.created_at:
            PromptVersion.objects.filter(pk=prompt.pk).update(created_at=written)
            moved += 1
        # Seed data, not history: the activation the registry seed recorded moves back with its version.
        PromptEvent.objects.filter(prompt=prompt, kind=PromptEvent.Kind.ACTIVATED, at__gt=prompt.first_run).update(
            at=prompt.first_run - LEAD_TIME)
    stdout.write(f"registry: {moved} prompt versions dated before their first run")
