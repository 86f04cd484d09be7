"""Datasets from production: runs, failure groups, corrected tickets; versions; endpoint keys."""

from __future__ import annotations

import pytest

from evals import crypto, services
from evals.models import CaseSource, DatasetCase, Endpoint
from evals.services import EvalsError, NewCase
from tests.evals.factories import corrected_ticket, make_dataset, make_endpoint
from tests.factories import make_agent
from tests.handoffs.factories import make_run

pytestmark = pytest.mark.django_db

FP = "a" * 40


def test_adding_cases_makes_a_new_version_and_old_versions_keep_their_cases():
    dataset = make_dataset([("q1", "a1")])
    first = DatasetCase.objects.get(dataset=dataset)
    services.add_cases(dataset, [NewCase(input_messages=[{"role": "user", "content": "q2"}])])
    services.remove_case(dataset, first.pk)
    assert dataset.version == 3
    assert [c.input_text for c in DatasetCase.objects.filter(dataset=dataset).in_version(1)] == ["q1"]
    assert [c.input_text for c in DatasetCase.objects.filter(dataset=dataset).in_version(3)] == ["q2"]


def test_failure_group_runs_become_cases_once():
    agent = make_agent("Support")
    for text in ("refund please", "refund now"):
        make_run(agent, status="error", fingerprint=FP, input_preview=text)
    dataset = make_dataset()
    assert services.add_cases(dataset, services.cases_from_failure_group(FP)) == 2
    assert services.add_cases(dataset, services.cases_from_failure_group(FP)) == 0  # nothing new: same version
    case = DatasetCase.objects.filter(dataset=dataset).first()
    assert dataset.version == 1 and case.source == CaseSource.FAILURE_GROUP and case.metadata["fingerprint"] == FP


def test_genai_message_input_becomes_chat_messages():
    messages = services.messages_from_text('[{"role": "system", "content": "s"}, {"role": "user", '
                                           '"parts": [{"type": "text", "content": "hello"}]}]')
    assert messages == [{"role": "system", "content": "s"}, {"role": "user", "content": "hello"}]
    assert services.messages_from_text("plain") == [{"role": "user", "content": "plain"}]


def test_corrected_ticket_answer_becomes_expected_output(reviewer):
    ticket = corrected_ticket(reviewer, answer="We refund within 5 days.")
    ticket.run.input_preview = "Can I get a refund?"
    ticket.run.save()
    cases = services.cases_from_tickets([ticket.pk])
    assert cases[0].expected_output == "We refund within 5 days."
    assert cases[0].input_messages == [{"role": "user", "content": "Can I get a refund?"}]


def test_tickets_without_a_correction_are_refused():
    with pytest.raises(EvalsError, match="corrected agent answer"):
        services.cases_from_tickets([12345])


def test_api_keys_are_encrypted_and_only_a_hint_is_kept():
    endpoint = make_endpoint("https://api.example.com/v1/", api_key="sk-secret-1234")
    stored = Endpoint.objects.get(pk=endpoint.pk)
    assert b"sk-secret" not in bytes(stored.api_key_encrypted) and stored.api_key_hint == "…1234"
    assert stored.base_url == "https://api.example.com/v1"
    assert services.endpoint_key(stored) == "sk-secret-1234"
    services.save_endpoint(stored, api_key="")  # blank keeps the key
    assert services.endpoint_key(stored) == "sk-secret-1234"


def test_a_changed_encryption_key_says_so(settings):
    token = crypto.encrypt("sk")
    settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789"
    with pytest.raises(crypto.KeyUnreadable, match="enter it again"):
        crypto.decrypt(token)


@pytest.mark.parametrize("url", ["ftp://x/v1", "http://user:pw@host/v1", "https://host/v1?x=1", "not a url"])
def test_endpoint_urls_are_checked(url):
    with pytest.raises(EvalsError, match="base URL"):
        make_endpoint(url)
