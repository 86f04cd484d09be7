import pytest

from evals.judge import OutsideRubric, build_messages, parse_verdict


def test_verdict_is_read_from_json_even_in_a_code_fence():
    verdict = parse_verdict('```json\n{"score": 0.75, "reasoning": "mostly right"}\n```')
    assert verdict.score == 0.75 and verdict.reasoning == "mostly right"


@pytest.mark.parametrize("answer", ["Looks good to me", '{"reasoning": "no score"}', '{"score": 7}', '{"score": "high"}',
                                    '{"score": true}'])
def test_answers_outside_the_rubric_are_refused(answer):
    with pytest.raises(OutsideRubric, match="outside the rubric"):
        parse_verdict(answer)


def test_messages_carry_rubric_question_answer_and_expected():
    messages = build_messages(rubric="correctness", question="Q?", answer="A.", expected="E.")
    assert "RUBRIC:" in messages[0]["content"] and "EXPECTED:\nE." in messages[1]["content"]
