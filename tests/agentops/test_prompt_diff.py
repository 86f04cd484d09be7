from agentops.prompt_diff import change_counts, side_by_side, unified_diff


def test_unified_diff_of_equal_texts_is_empty():
    assert unified_diff("same\ntext", "same\ntext") == []


def test_unified_diff_classes_added_removed_and_hunk_lines():
    lines = unified_diff("a\nb\nc", "a\nB\nc")
    assert [(x.css, x.text) for x in lines] == [
        ("hunk", "@@ -1,3 +1,3 @@"), ("ctx", "a"), ("del", "b"), ("add", "B"), ("ctx", "c"),
    ]


def test_unified_diff_ignores_windows_line_endings():
    assert unified_diff("a\r\nb", "a\nb") == []


def test_change_counts_counts_added_and_removed_lines():
    assert change_counts(unified_diff("a\nb", "a\nc\nd")) == (2, 1)


def test_side_by_side_pairs_replaced_lines_and_pads_insertions():
    rows = side_by_side("a\nb", "a\nB\nextra")
    assert [(r.left, r.right, r.left_css, r.right_css) for r in rows] == [
        ("a", "a", "ctx", "ctx"), ("b", "B", "del", "add"), (None, "extra", "", "add"),
    ]
