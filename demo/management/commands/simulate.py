"""Stream realistic agent traffic through the real OTLP endpoint with the OpenTelemetry SDK."""

from __future__ import annotations

import os
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from agentops.models import ApiKey
from demo.simulator import RegistryPromptRouter, SdkEmitter, TraceGenerator


class Command(BaseCommand):
    help = "Send simulated multi-agent traces to /v1/traces (OTLP/HTTP protobuf, gzip) until stopped."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--rate", type=float, default=2.0, help="runs per second (default 2)")
        parser.add_argument("--duration", type=float, default=0, help="seconds to run; 0 = forever (default)")
        parser.add_argument("--endpoint", default=os.environ.get("AGENTOPS_ENDPOINT", "http://127.0.0.1:8000"),
                            help="base URL of the server (default http://127.0.0.1:8000)")
        parser.add_argument("--key", default=os.environ.get("AGENTOPS_API_KEY", ""),
                            help="API key (default: $AGENTOPS_API_KEY, else a new key is created)")
        parser.add_argument("--seed", type=int, default=None, help="random seed for repeatable traffic")

    def handle(self, *args, **options) -> None:
        rate, duration = options["rate"], options["duration"]
        if rate <= 0 or duration < 0:
            raise CommandError("--rate must be > 0 and --duration >= 0")
        key = options["key"] or self._new_key()
        emitter = SdkEmitter(options["endpoint"], key)
        # Versions come from the registry, as for an agent that reads its prompt there: rollouts and
        # activations made on the registry pages show up in the simulated telemetry.
        generator = TraceGenerator(options["seed"], prompt_router=RegistryPromptRouter(options["endpoint"], key))
        self.stdout.write(f"simulating {rate:g} runs/s to {emitter.endpoint} "
                          f"({'forever' if not duration else f'{duration:g} s'}); Ctrl-C to stop")
        sent = self._loop(generator, emitter, rate, duration)
        emitter.flush()
        emitter.shutdown()
        self.stdout.write(f"sent {sent} runs")

    def _new_key(self) -> str:
        _key, token = ApiKey.generate(label="Simulator")
        self.stdout.write("created API key 'Simulator' (set AGENTOPS_API_KEY to reuse one)")
        return token

    def _loop(self, generator: TraceGenerator, emitter: SdkEmitter, rate: float, duration: float) -> int:
        interval, started, sent = 1.0 / rate, time.monotonic(), 0
        try:
            while not duration or time.monotonic() - started < duration:
                emitter.emit(generator.trace(timezone.now()).end_at(timezone.now()))
                sent += 1
                # Pace by schedule, not by sleep after work, so the rate holds when emitting is slow.
                delay = started + sent * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        except KeyboardInterrupt:
            pass
        return sent
