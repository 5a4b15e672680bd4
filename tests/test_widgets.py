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


def test_one_chip_renderer_escapes_and_marks_kinds():
    from lab_ui.chips import PALETTE, Chip, chips_html

    out = chips_html([
        Chip('a"<b>', hover='say "<i>"\nnext'), Chip("x", kind="unknown"), Chip("y\n", line_break=True),
        Chip("z", background="rgba(1,2,3,0.5)", color="#fff", kind="query", weight=0.25), Chip("w", kind="future"),
    ], hidden=3, container="attention-strip")
    assert "<b>" not in out.split("</style>")[1] and "<i>" not in out and "&lt;b&gt;" in out
    assert 'title="say &quot;&lt;i&gt;&quot;&#10;next"' in out
    assert '<span class="tok unknown">x</span>' in out  # no palette colour: the stylesheet's red
    assert '<span class="tok">y↵</span><br>' in out.replace(f' style="background:{PALETTE[2]}"', "")
    assert 'class="tok query" data-weight="0.250000"' in out and "background:rgba(1,2,3,0.5);color:#fff" in out
    assert '<span class="tok future">w</span>' in out
    assert out.count('class="tok') == 5 and "… 3 more (not drawn)" in out and 'class="chips attention-strip"' in out


def test_literal_keeps_user_text_out_of_markdown():
    from lab_ui.chips import literal

    assert literal("plain words 42") == "plain words 42"
    for special in "*_`[]()<>$#|~":
        assert literal(special) == "\\" + special
