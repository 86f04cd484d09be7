"""Evals in a real browser: a dataset from a failure group and from a corrected ticket, experiments
of two prompt versions through a real Celery worker and the HTTP responder, the progress bar, the
comparison."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from agentops.models import ROLE_OPERATIONS, ROLE_REVIEWERS
from evals.models import Dataset, Experiment
from evals.responder import serve
from tests.conftest import make_user
from tests.evals.factories import FACTS_V1, FACTS_V2, corrected_ticket, make_endpoint, make_judge, make_rule
from tests.factories import make_agent, make_prompt
from tests.handoffs.factories import make_run
from tests.monitoring.celery_helpers import thread_worker

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FP = "c" * 40


def run_experiment(page, base: str, prompt, endpoint, evaluators) -> None:
    page.goto(f"{base}/evals/experiments/")
    page.select_option("#id_dataset", label="Support regressions")
    page.select_option("#id_prompt_version", value=str(prompt.pk))
    page.select_option("#id_endpoint", value=str(endpoint.pk))
    for evaluator in evaluators:
        page.check(f"input[name=evaluators][value='{evaluator.pk}']")
    page.fill("#id_name", f"v{prompt.version}")
    page.click("#new-experiment button[type=submit]")
    expect(page.locator("#progress-bar")).to_be_visible()
    # htmx polls the bar every second; when the experiment finishes the page reloads with results.
    expect(page.locator("#progress-bar")).to_have_attribute("data-status", "completed", timeout=60_000)
    expect(page.locator("#passed")).to_be_visible(timeout=30_000)


def test_dataset_from_group_and_ticket_then_compare_two_prompt_versions(new_page, live_server, settings):
    user = make_user("olga", ROLE_OPERATIONS, ROLE_REVIEWERS)
    reviewer = make_user("rex", ROLE_REVIEWERS)
    agent = make_agent("Support")
    v1, v2 = make_prompt(agent, text=FACTS_V1, is_active=True), make_prompt(agent, text=FACTS_V2)
    for text in ("What about shipping times?", "I forgot my password"):
        make_run(agent, status="error", fingerprint=FP, input_preview=text)
    ticket = corrected_ticket(reviewer, answer="Refunds take 5 business days.", agent=agent)
    ticket.run.input_preview = "How long does a refund take?"
    ticket.run.save(update_fields=["input_preview"])
    with serve() as responder, thread_worker():
        settings.OUTBOUND_ALLOWED_HOSTS = [responder.host_port]  # the local model: an internal receiver
        endpoint = make_endpoint(responder.url, name="Local model")
        evaluators = [make_rule("contains", name="mentions days", text="days"), make_judge(endpoint, name="judge")]
        page = new_page(user)
        base = live_server.url

        page.goto(f"{base}/monitoring/root-causes/{FP}/")
        page.fill("#evals-add-group input[name=new_name]", "Support regressions")
        page.click("#evals-add-group button[type=submit]")
        expect(page.locator("h1")).to_contain_text("Support regressions")
        expect(page.locator("#cases tbody tr")).to_have_count(2)

        page.goto(f"{base}/handoffs/tickets/{ticket.pk}/")
        page.select_option("#evals-add-ticket select[name=dataset]", label="Support regressions")
        page.click("#evals-add-ticket button[type=submit]")
        expect(page.locator("#cases tbody tr")).to_have_count(3)
        expect(page.locator("#cases")).to_contain_text("Refunds take 5 business days.")
        assert Dataset.objects.get().version == 2

        run_experiment(page, base, v1, endpoint, evaluators)
        run_experiment(page, base, v2, endpoint, evaluators)
        first = Experiment.objects.get(prompt_version=v1)
        page.select_option("select[name=a]", value=str(first.pk))
        page.click("#compare")
        expect(page.locator("h1")).to_contain_text("Compare experiments")
        expect(page.locator("#count-newly-passing")).to_have_text("1")  # v2 knows shipping times
        expect(page.locator("#case-rows")).to_contain_text("newly passing")
        page.goto(f"{base}/registry/agents/{agent.slug}/prompts/{v2.version}/")
        expect(page.locator("#evals-rollout-check")).to_contain_text("newly failing")
