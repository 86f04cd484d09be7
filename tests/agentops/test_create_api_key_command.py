from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from agentops.models import ApiKey
from tests.factories import make_agent

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_api_key", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_prints_only_the_token_on_stdout():
    out, err = run("--label", "ci")
    token = out.strip()
    assert out == token + "\n" and token.startswith("ao_")
    assert ApiKey.authenticate(token).label == "ci"
    assert token not in err  # the summary on stderr names the prefix, never the secret


def test_agent_option_restricts_the_key():
    agent = make_agent("Billing Agent", slug="billing-agent")
    out, _ = run("--label", "billing", "--agent", "billing-agent")
    assert ApiKey.authenticate(out.strip()).agent == agent


def test_unknown_agent_is_a_command_error_listing_known_slugs():
    make_agent("Billing Agent", slug="billing-agent")
    with pytest.raises(CommandError, match="No agent with slug 'nope'. Known slugs: billing-agent"):
        run("--label", "x", "--agent", "nope")
    assert not ApiKey.objects.exists()


def test_blank_label_is_a_command_error():
    with pytest.raises(CommandError, match="must not be empty"):
        run("--label", "  ")
