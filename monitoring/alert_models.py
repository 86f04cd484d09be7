"""Alert rules, alert events and notification channels (live monitoring)."""

from __future__ import annotations

from django.db import models  # noqa: F401
