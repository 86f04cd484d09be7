"""Receivers of monitoring.signals: escalations and failed runs become handoff tickets."""
