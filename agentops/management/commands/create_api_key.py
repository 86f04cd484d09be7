"""``manage.py create_api_key --label NAME [--agent SLUG]``: print a new token, and only the token.

Scripts capture stdout (``TOKEN=$(python manage.py create_api_key --label ci)``), so anything
else goes to stderr.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agentops.models import Agent
from agentops.services import create_api_key


class Command(BaseCommand):
    help = "Create a telemetry API key and print its token (shown only once) on stdout."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--label", required=True, help="What the key is for, e.g. 'simulator'.")
        parser.add_argument("--agent", metavar="SLUG", help="Restrict the key to this agent.")

    def handle(self, *args, label: str, agent: str | None = None, **options) -> None:
        label = label.strip()
        if not label:
            raise CommandError("--label must not be empty.")
        target = None
        if agent:
            target = Agent.objects.filter(slug=agent).first()
            if target is None:
                known = ", ".join(Agent.objects.order_by("slug").values_list("slug", flat=True)[:20]) or "none"
                raise CommandError(f"No agent with slug '{agent}'. Known slugs: {known}.")
        key, token = create_api_key(label, target, created_by=None)
        self.stdout.write(token)
        scope = f"agent {target.slug}" if target else "any agent"
        self.stderr.write(f"Created key '{key.label}' (ao_{key.prefix}_…) for {scope}.")
