"""In-process profile of the OTLP intake view: what one request costs the web server, per span.

Sends --requests gzip protobuf batches (the bodies bench/ingest.py sends) through Django's WSGI
handler (the whole middleware stack, no network), into the inbox of a scratch database, with the
broker call stubbed out (enqueueing is measured by bench/ingest.py). Prints ms per request and
microseconds per span; with --profile, the top functions by cumulative time.

    python bench/intake_profile.py --requests 500 [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import time
from unittest import mock

# bench/ingest.py (found next to this script): database helpers and request bodies; importing it
# also puts the repository on sys.path and selects the Django settings.
import ingest as ingest_bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with ingest_bench.scratch_database():
        run(args)


def run(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.management import call_command

    from agentops.models import ApiKey
    from monitoring.models import InboxBatch

    call_command("migrate", verbosity=0)
    _key, token = ApiKey.generate(label="intake profile")
    factory = ingest_bench.BodyFactory()
    bodies = [factory.make()[0] for _ in range(args.requests)]
    handler = WSGIHandler()

    def post(body: bytes) -> str:
        environ = {
            "REQUEST_METHOD": "POST", "PATH_INFO": "/v1/traces", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000",
            "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": "application/x-protobuf", "HTTP_CONTENT_ENCODING": "gzip",
            "HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_HOST": "127.0.0.1:8000",
        }
        status = []
        response = handler(environ, lambda s, headers: status.append(s))
        b"".join(response)
        response.close()
        return status[0]

    with mock.patch("monitoring.intake.services.wake_workers"):
        for body in bodies[:20]:  # warm-up: imports, connection, caches
            assert post(body).startswith("200"), "intake refused the warm-up request"
        profiler = cProfile.Profile() if args.profile else None
        started, cpu_started = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        for body in bodies[20:]:
            post(body)
        if profiler:
            profiler.disable()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    count = len(bodies) - 20
    stored = InboxBatch.objects.count() - 20
    spans = count * factory.span_count
    print(f"{count} requests of {factory.span_count} spans, {stored} stored: {elapsed * 1000 / count:.2f} ms per request "
          f"({elapsed * 1e6 / spans:.1f} us per span), web process CPU {cpu * 1000 / count:.2f} ms per request "
          f"({cpu * 1e6 / spans:.1f} us per span)")
    if profiler:
        pstats.Stats(profiler).sort_stats(os.environ.get("SORT", "cumulative")).print_stats(40)


if __name__ == "__main__":
    main()
