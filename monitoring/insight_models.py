"""Failure groups, traffic edges and prompt-draft links (insights)."""

from __future__ import annotations

from django.db import models  # noqa: F401
