"""Pages: empty states, bad input as form errors (4xx), roles, panels on lower apps' pages."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from evals import runner
from evals.models import DatasetCase, Endpoint, Experiment
from tests.evals.factories import corrected_ticket, make_dataset, make_endpoint, make_rule
from tests.factories import make_agent, make_prompt
from tests.handoffs.factories import make_run

pytestmark = pytest.mark.django_db

PAGES = ["evals:dataset_list", "evals:experiment_list", "evals:evaluator_list", "evals:online_list",
         "evals:endpoint_list", "evals:add_runs", "evals:add_tickets"]


@pytest.mark.parametrize("name", PAGES)
def test_pages_have_empty_states(ops_client, name):
    response = ops_client.get(reverse(name))
    assert response.status_code == 200
    assert b"No " in response.content


@pytest.mark.parametrize("name", PAGES)
def test_pages_are_for_operations(reviewer_client, name):
    assert reviewer_client.get(reverse(name)).status_code == 403


def test_create_dataset_and_duplicate_name_is_a_form_error(ops_client):
    response = ops_client.post(reverse("evals:dataset_list"), {"name": "Refunds"})
    assert response.status_code == 302
    response = ops_client.post(reverse("evals:dataset_list"), {"name": "refunds"})
    assert response.status_code == 400 and b"already exists" in response.content


def test_upload_errors_name_line_and_field_and_add_nothing(ops_client):
    dataset = make_dataset()
    upload = SimpleUploadedFile("c.jsonl", b'{"input": "ok"}\n{"expected_output": "x"}\n')
    response = ops_client.post(reverse("evals:upload_cases", args=[dataset.pk]), {"file": upload})
    assert response.status_code == 400 and b"line 2, field input" in response.content
    assert not DatasetCase.objects.exists()
    upload = SimpleUploadedFile("c.csv", b"input,expected_output\nhi,hello\n")
    assert ops_client.post(reverse("evals:upload_cases", args=[dataset.pk]), {"file": upload}).status_code == 302
    assert DatasetCase.objects.get().source_ref == "c.csv:2"


def test_add_runs_from_the_explorer_filters(ops_client):
    agent = make_agent("Support")
    run = make_run(agent, input_preview="where is my order?")
    page = ops_client.get(reverse("evals:add_runs") + f"?agent={agent.slug}")
    assert run.trace_id.encode() in page.content
    response = ops_client.post(reverse("evals:add_runs"), {"run": [run.pk], "new_name": "Orders"})
    assert response.status_code == 302
    assert DatasetCase.objects.get().run == run
    assert ops_client.post(reverse("evals:add_runs"), {"new_name": "x"}).status_code == 400


def test_ticket_page_offers_the_correction_as_a_case(ops_user, reviewer, client):
    ticket = corrected_ticket(reviewer)
    client.force_login(ops_user)
    page = client.get(reverse("handoffs:ticket", args=[ticket.pk]))
    assert b"evals-add-ticket" in page.content


def test_endpoint_form_never_shows_the_key(ops_client):
    response = ops_client.post(reverse("evals:endpoint_list"), {
        "name": "OpenAI", "kind": "chat", "base_url": "https://api.example.com/v1", "model": "gpt-4o-mini",
        "timeout_seconds": 30, "api_key": "sk-verysecret-9876"})
    assert response.status_code == 302
    page = ops_client.get(reverse("evals:endpoint_edit", args=[Endpoint.objects.get().pk]))
    assert b"sk-verysecret" not in page.content and "…9876".encode() in ops_client.get(reverse("evals:endpoint_list")).content


def test_evaluator_with_bad_regex_is_a_form_error(ops_client):
    response = ops_client.post(reverse("evals:evaluator_list"), {"name": "r", "kind": "regex", "pattern": "("})
    assert response.status_code == 400 and b"not a valid regular expression" in response.content


def test_experiment_pages_and_rollout_warning(ops_client, responder, django_capture_on_commit_callbacks):
    agent = make_agent("Support")
    make_prompt(agent, is_active=True)
    candidate = make_prompt(agent)
    page = ops_client.get(reverse("registry:prompt_detail", args=[agent.slug, candidate.version]))
    assert b"No finished experiment on v2" in page.content
    experiment = runner.start_experiment(name="e", dataset=make_dataset([("q", "a")]),
                                         endpoint=make_endpoint(responder.url), evaluators=[make_rule("json_valid")],
                                         prompt_version=candidate)
    runner.run_slot(experiment.pk)
    detail = ops_client.get(reverse("evals:experiment_detail", args=[experiment.pk]))
    assert detail.status_code == 200 and b"1 of 1 cases" in detail.content
    progress = ops_client.get(reverse("evals:experiment_progress", args=[experiment.pk]), HTTP_HX_REQUEST="true")
    assert progress["HX-Refresh"] == "true"
    page = ops_client.get(reverse("registry:prompt_detail", args=[agent.slug, candidate.version]))
    assert b"Tested:" in page.content and b"No finished experiment on the active version" in page.content


def test_compare_refuses_bad_input(ops_client):
    assert ops_client.get(reverse("evals:experiment_compare") + "?a=x&b=1").status_code == 400
    assert ops_client.get(reverse("evals:experiment_compare") + "?a=98&b=99").status_code == 404


def test_experiment_form_rejects_invoke_without_agent_endpoint(ops_client, responder):
    dataset = make_dataset([("q", "a")])
    endpoint = make_endpoint(responder.url)
    response = ops_client.post(reverse("evals:experiment_list"), {"dataset": dataset.pk, "endpoint": endpoint.pk,
                                                                  "concurrency": 2, "max_attempts": 1})
    assert response.status_code == 400 and b"invoke URL" in response.content


def test_run_explorer_trace_and_failure_group_offer_dataset_panels(ops_client):
    agent = make_agent("Support")
    run = make_run(agent, status="error", fingerprint="b" * 40, input_preview="refund?")
    explorer = ops_client.get(reverse("monitoring:runs") + f"?agent={agent.slug}&range=24h")
    assert b"evals-add-runs" in explorer.content
    assert b"evals-add-run" in ops_client.get(reverse("monitoring:run_detail", args=[run.trace_id])).content
    group = ops_client.get(reverse("insights:failure_group", args=["b" * 40]))
    assert b"evals-add-group" in group.content
    response = ops_client.post(reverse("evals:add_failure_group", args=["b" * 40]), {"new_name": "Refund failures"})
    assert response.status_code == 302 and DatasetCase.objects.get().run == run


def test_add_runs_uses_the_explorers_filters(ops_client):
    agent, other = make_agent("Support"), make_agent("Billing")
    mine, theirs = make_run(agent, input_preview="mine"), make_run(other, input_preview="theirs")
    page = ops_client.get(reverse("evals:add_runs") + f"?agent={agent.slug}&range=24h")
    assert mine.trace_id.encode() in page.content and theirs.trace_id.encode() not in page.content
    assert ops_client.get(reverse("evals:add_runs") + "?range=nonsense").status_code == 400


def test_failure_group_form_errors_never_redirect_off_site(ops_client):
    response = ops_client.post(reverse("evals:add_failure_group", args=["e" * 40]),
                               {"next": "https://evil.example/", "new_name": ""})
    assert response.status_code == 302 and response["Location"] == reverse("evals:dataset_list")
    response = ops_client.post(reverse("evals:add_failure_group", args=["e" * 40]),
                               {"next": "/monitoring/root-causes/", "new_name": "x"})
    assert response["Location"] == "/monitoring/root-causes/"  # no runs in that group: back with the message


def test_start_then_cancel_an_experiment_from_its_pages(ops_client, responder):
    agent = make_agent("Support")
    prompt = make_prompt(agent)
    dataset = make_dataset([("q1", "a"), ("q2", "b")])
    endpoint = make_endpoint(responder.url)
    response = ops_client.post(reverse("evals:experiment_list"), {
        "name": "try", "dataset": dataset.pk, "prompt_version": prompt.pk, "endpoint": endpoint.pk,
        "concurrency": 2, "max_attempts": 1})
    experiment = Experiment.objects.get()
    assert response.status_code == 302 and response["Location"] == experiment.get_absolute_url()
    assert experiment.case_count == 2 and experiment.dataset_version == 1
    page = ops_client.get(experiment.get_absolute_url())
    assert b'hx-trigger="every 1s"' in page.content  # the progress bar polls while it runs
    assert ops_client.post(reverse("evals:experiment_cancel", args=[experiment.pk])).status_code == 302
    experiment.refresh_from_db()
    assert experiment.status == "cancelled"
    assert b'hx-trigger="every 1s"' not in ops_client.get(experiment.get_absolute_url()).content
