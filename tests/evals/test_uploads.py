from evals.uploads import parse


def test_csv_rows_become_cases_and_extra_columns_metadata():
    result = parse("cases.csv", b"input,expected_output,topic\nWhere is my order?,In transit,shipping\n")
    assert result.errors == []
    case = result.cases[0]
    assert case.input_messages == [{"role": "user", "content": "Where is my order?"}]
    assert case.expected_output == "In transit" and case.metadata == {"topic": "shipping"}


def test_jsonl_errors_name_the_line_and_field():
    data = b'{"input": "ok"}\n{"expected_output": "x"}\nnot json\n{"messages": [{"role": "bot", "content": "x"}]}\n'
    result = parse("cases.jsonl", data)
    assert "line 2, field input: required (or give messages)" in result.errors
    assert any(e.startswith("line 3: not JSON") for e in result.errors)
    assert any(e.startswith("line 4, field messages[0]") for e in result.errors)


def test_csv_without_input_column_is_refused():
    assert parse("c.csv", b"question\nhi\n").errors == ["line 1: the header needs an input (or messages) column"]


def test_other_file_types_and_encodings_are_refused():
    assert parse("c.xlsx", b"x").errors == ["file: use a .csv or .jsonl file"]
    assert parse("c.csv", b"\xff\xfe").errors[0].startswith("file: not UTF-8")
