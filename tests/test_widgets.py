"""The small HTML helpers pages share (lab_ui.widgets)."""

import doctest

import lab_ui.widgets as widgets


def test_docstring_examples_hold():
    assert doctest.testmod(widgets).failed == 0


def test_table_html_escapes_every_cell_and_keeps_the_column_order():
    out = widgets.table_html([{"b": "<script>x</script>", "a": 1}, {"b": "$5 & $6", "a": 2}])
    assert "<script>" not in out and "&lt;script&gt;" in out and "$5 &amp; $6" in out
    assert out.index(">b</th>") < out.index(">a</th>") and out.count("<tr>") == 3
    assert widgets.table_html([]) == ""
