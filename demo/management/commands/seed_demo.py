"""Seed realistic demo data: the registry, then each app's demo data in dependency order.

Idempotent: a second run adds nothing (each seeder checks what exists). Used by ``make demo``.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from agentops.models import ApiKey
from demo import alerts, evals, handoffs, insights, lifecycle, monitoring, prompts, roi
from demo.registry import seed_registry

# In dependency order: telemetry first, then what reads it (lifecycle reads every app, evals included).
APP_SEEDERS = (monitoring, alerts, insights, handoffs, roi, prompts, evals, lifecycle)


class Command(BaseCommand):
    help = "Seed demo data (registry, telemetry history, tickets, ROI assumptions). Safe to run twice."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--simulator-key-file",
            help="Keep a valid API key for the simulator in this file (created if missing or revoked).",
        )
        parser.add_argument(
            "--force", action="store_true",
            help="Seed even with DEBUG off (demo users have known passwords: never on a production database).",
        )

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG and not options.get("force"):
            raise CommandError(
                "Refusing to seed demo data with DEBUG off: demo accounts have published passwords. "
                "This looks like a production database. Use --force if it really is a demo."
            )
        seed_registry(self.stdout)
        for seeder in APP_SEEDERS:
            seeder.seed(self.stdout)
        if options.get("simulator_key_file"):
            self._ensure_simulator_key(Path(options["simulator_key_file"]))
        self.stdout.write(self.style.SUCCESS("demo data ready"))

    def _ensure_simulator_key(self, path: Path) -> None:
        if path.exists() and ApiKey.authenticate(path.read_text().strip()) is not None:
            return
        _key, token = ApiKey.generate(label="Demo simulator")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(token + "\n")
        path.chmod(0o600)
        self.stdout.write("created an API key for the simulator")
