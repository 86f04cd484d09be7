"""Rollup cells (minute/hour/day tiers) with mergeable latency sketches (live monitoring)."""

from __future__ import annotations

from django.db import models  # noqa: F401
