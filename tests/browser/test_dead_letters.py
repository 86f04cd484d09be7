"""An operations user sees a dead-letter batch with its error and replays it from the page (htmx)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from playwright.sync_api import expect

from agentops.models import ROLE_OPERATIONS
from monitoring.ingest import queries as dead_letter_queries
from monitoring.models import InboxBatch
from tests.conftest import PASSWORD
from tests.monitoring.celery_helpers import purge_broker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _operator() -> User:
    # transactional_db flushes the groups the roles migration created; make sure ours exists.
    group, _ = Group.objects.get_or_create(name=ROLE_OPERATIONS)
    user = User.objects.create_user(username="olivia", password=PASSWORD, first_name="Olivia")
    user.groups.add(group)
    return user


def test_operator_replays_a_dead_letter_batch(new_page, live_server):
    batch = InboxBatch.objects.create(kind="otlp_protobuf", payload=b"\x00", status="dead", attempts=5,
                                      error="PayloadError: body is not an OTLP ExportTraceServiceRequest protobuf")
    page = new_page(_operator())
    page.goto(f"{live_server.url}/monitoring/dead-letters/")
    row = page.locator(f"tr[data-batch='{batch.pk}']")
    expect(row).to_contain_text("PayloadError: body is not an OTLP")
    row.get_by_role("button", name="Replay").click()
    expect(page.get_by_text(f"Batch {batch.pk} was queued for processing again.")).to_be_visible()
    expect(page.get_by_role("heading", name="No dead letters")).to_be_visible()
    batch.refresh_from_db()
    assert batch.status == "pending"
    purge_broker()  # no worker runs in this test; drop the replay's message


def test_operator_pages_through_dead_letters_and_replays_them_all(new_page, live_server, monkeypatch):

    monkeypatch.setattr(dead_letter_queries, "DEAD_LETTER_PAGE", 2)
    batches = [InboxBatch.objects.create(kind="otlp_protobuf", payload=b"\x00", status="dead", attempts=5,
                                         error=f"PayloadError: bad body {i}") for i in range(3)]
    page = new_page(_operator())
    page.goto(f"{live_server.url}/monitoring/dead-letters/")
    expect(page.get_by_text("3 dead batches, newest first: page 1 of 2")).to_be_visible()
    expect(page.locator(f"tr[data-batch='{batches[0].pk}']")).to_have_count(0)
    page.get_by_role("link", name="Older").click()
    expect(page.locator(f"tr[data-batch='{batches[0].pk}']")).to_contain_text("bad body 0")
    assert page.url.endswith("?page=2")  # the page is in the address bar (hx-push-url)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Replay all 3").click()
    expect(page.get_by_text("3 batches were queued for processing again.")).to_be_visible()
    expect(page.get_by_role("heading", name="No dead letters")).to_be_visible()
    assert set(InboxBatch.objects.values_list("status", flat=True)) == {"pending"}
    purge_broker()  # no worker runs in this test; drop the replays' messages
