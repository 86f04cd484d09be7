from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data, the telemetry simulator and the ``make demo`` launcher. Depends on every app;
    nothing depends on it."""

    name = "demo"
