"""A run's trace view links to the handoff tickets opened for it (registered by handoffs)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.handoffs.factories import make_ticket

pytestmark = pytest.mark.django_db


def test_trace_view_links_to_the_runs_ticket(ops_client):
    ticket = make_ticket()
    html = ops_client.get(reverse("monitoring:run_detail", args=[ticket.run.trace_id])).content.decode()
    assert reverse("handoffs:ticket", args=[ticket.pk]) in html
    assert f"Handoff ticket #{ticket.pk}" in html
