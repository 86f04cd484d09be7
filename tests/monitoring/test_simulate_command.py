"""manage.py simulate streams through the real endpoint with the OpenTelemetry SDK."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from monitoring.models import InboxBatch
from tests.factories import make_api_key
from tests.monitoring.celery_helpers import purge_broker


@pytest.mark.django_db(transaction=True)
def test_simulate_sends_otlp_batches_to_the_endpoint(live_server):
    _, token = make_api_key("simulator test")
    out = io.StringIO()
    call_command("simulate", "--rate", "20", "--duration", "0.5", "--endpoint", live_server.url, "--key", token,
                 "--seed", "1", stdout=out)
    assert "sent " in out.getvalue()
    batches = InboxBatch.objects.all()
    assert batches.exists() and all(b.kind == "otlp_protobuf" and b.span_count > 0 for b in batches)
    purge_broker()  # no worker in this test; drop the queued messages


@pytest.mark.django_db
def test_simulate_refuses_a_non_positive_rate():
    with pytest.raises(CommandError, match="--rate"):
        call_command("simulate", "--rate", "0", "--key", "x")
