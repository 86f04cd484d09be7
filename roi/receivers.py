"""Receivers of monitoring.signals for ROI: daily run figures survive telemetry retention."""

from __future__ import annotations

from django.dispatch import receiver

from monitoring.signals import telemetry_expiring

from . import archive


@receiver(telemetry_expiring, dispatch_uid="roi.archive_expiring")
def on_telemetry_expiring(sender, before, **kwargs) -> None:
    archive.archive_expiring(before)
