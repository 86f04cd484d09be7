import pytest

from agentops import queries
from tests.factories import make_agent, make_price, make_prompt

pytestmark = pytest.mark.django_db


def test_agent_list_loads_relations_and_active_prompt_in_three_queries(django_assert_num_queries, ops_user):
    for n in range(30):
        agent = make_agent(f"Agent {n:02d}", owner=ops_user)
        make_prompt(agent, is_active=False)
        make_prompt(agent, is_active=True)
    with django_assert_num_queries(2):  # agents with department and owner, then active prompts
        rows = [(a.department.name, a.owner.username, [p.version for p in a.active_prompts])
                for a in queries.agent_list(queries.AgentFilters())]
    assert len(rows) == 30 and all(r[2] == [2] for r in rows)


def test_agent_list_search_is_case_insensitive_over_name_slug_and_description():
    make_agent("Billing", slug="bill-bot", description="Answers INVOICE questions")
    make_agent("Other")
    for q in ("billing", "BILL-BOT", "invoice"):
        assert [a.slug for a in queries.agent_list(queries.AgentFilters(q=q))] == ["bill-bot"], q


def test_agent_list_discovered_filter():
    make_agent("Found", discovered=True)
    make_agent("Known")
    only_found = queries.agent_list(queries.AgentFilters(discovered=True))
    only_known = queries.agent_list(queries.AgentFilters(discovered=False))
    assert [a.name for a in only_found] == ["Found"] and [a.name for a in only_known] == ["Known"]


def test_model_price_groups_are_one_query_newest_first(django_assert_num_queries):
    from datetime import UTC, datetime

    make_price("gpt-4o", "5", "15", effective_from=datetime(2024, 1, 1, tzinfo=UTC))
    make_price("gpt-4o", "2.5", "10", effective_from=datetime(2025, 1, 1, tzinfo=UTC))
    make_price("claude-3-5-sonnet", "3", "15")
    with django_assert_num_queries(1):
        groups = queries.model_price_groups()
    assert [g.model_name for g in groups] == ["claude-3-5-sonnet", "gpt-4o"]
    assert [p.effective_from.year for p in groups[1].rows] == [2025, 2024]
