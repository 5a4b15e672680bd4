"""Every chart goes through lab_ui.charts.chart(): a caption that says what to notice, the data as
a table with a CSV download, and colours from lab_ui.palette only."""

from __future__ import annotations

import json
import re
from pathlib import Path

import plotly.graph_objects as go
import pytest
from page_text import chart_tables
from streamlit.testing.v1 import AppTest

from lab_ui import charts, palette

ROOT = Path(__file__).resolve().parent.parent


def direct_chart_calls(root: Path = ROOT) -> set[str]:
    """Files (pages, lab_ui) that call plotly_chart other than lab_ui/charts.py, the one door."""
    found = set()
    for path in sorted(root.glob("pages/*.py")) + sorted(root.glob("lab_ui/*.py")):
        rel = path.relative_to(root).as_posix()
        if rel != "lab_ui/charts.py" and re.search(r"\.plotly_chart\(", path.read_text(encoding="utf-8")):
            found.add(rel)
    return found


def test_every_chart_goes_through_the_one_door():
    assert not direct_chart_calls(), f"draw charts with lab_ui.charts.chart, not plotly_chart: {sorted(direct_chart_calls())}"


def test_the_one_door_check_finds_a_direct_call(tmp_path):
    (tmp_path / "pages").mkdir()
    (tmp_path / "lab_ui").mkdir()
    (tmp_path / "pages" / "a.py").write_text("import streamlit as st\nst.plotly_chart(fig)\n", encoding="utf-8")
    (tmp_path / "lab_ui" / "b.py").write_text("col.plotly_chart(fig, key='x')\n", encoding="utf-8")
    (tmp_path / "lab_ui" / "charts.py").write_text("where.plotly_chart(fig)\n", encoding="utf-8")
    (tmp_path / "lab_ui" / "c.py").write_text("charts.chart(fig, key='y', caption='c', table=[])\n", encoding="utf-8")
    assert direct_chart_calls(tmp_path) == {"pages/a.py", "lab_ui/b.py"}


CHART_SCRIPT = """
import plotly.graph_objects as go
from lab_ui.charts import chart
fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[2.2, 2.4, 2.6], name="val loss", line=dict(color="{color}")))
chart(fig, key="loss", caption="val loss rose from 2.2 to 2.6.", table=[{{"step": s, "val loss": v}} for s, v in zip([1, 2, 3], [2.2, 2.4, 2.6])])
"""


def test_a_chart_has_its_caption_as_text_and_alt_and_its_data_as_a_table(monkeypatch):
    monkeypatch.setenv("LLM_LAB_STRICT_PALETTE", "1")
    at = AppTest.from_string(CHART_SCRIPT.format(color=palette.BLUE), default_timeout=120).run()
    assert not at.exception, at.exception
    assert at.caption[0].value == "val loss rose from 2.2 to 2.6."
    chart = at.get("plotly_chart")[0].proto
    assert "rose from 2.2" in getattr(chart, "alt", "rose from 2.2")
    spec = json.loads(chart.spec)
    assert spec["layout"]["colorway"][0] == palette.BLUE
    assert at.expander[0].label == "The data behind this chart (3 rows)"
    assert not at.get("html") and not at.get("download_button")  # closed, nothing of the table is sent to the browser
    [table] = chart_tables(at)  # opened (as a learner's click does): the page runs again and draws it
    assert list(table.columns) == ["step", "val loss"] and table["step"].tolist() == [1, 2, 3] and table["val loss"].tolist() == [2.2, 2.4, 2.6]
    assert "<td class=\"num\">2.2000</td>" in at.get("html")[0].value  # four decimals, as st.table shows them
    assert at.get("download_button")[0].proto.label == "Download the data (CSV)"


LIVE_CHART_SCRIPT = """
import plotly.graph_objects as go
import streamlit as st
from lab_ui import charts

@st.fragment(run_every=60)
def live():
    with charts.drawn_with_their_tables():
        charts.chart(go.Figure(go.Scatter(x=[1, 2], y=[3, 4])), key="live", caption="loss went from 3 to 4 in two steps.", table=[{"step": 1, "loss": 3}, {"step": 2, "loss": 4}])

live()
charts.chart(go.Figure(go.Scatter(x=[1, 2], y=[3, 4])), key="after", caption="loss went from 3 to 4 in two steps.", table=[{"step": 1, "loss": 3}, {"step": 2, "loss": 4}])
"""


def test_a_polling_fragments_chart_sends_its_table_at_once_and_keeps_no_widget_there():
    """lab_ui.jobs.live draws its charts inside `drawn_with_their_tables`: their tables come with them in
    the closed expander (no keyed expander in a fragment that reruns itself); after the block, charts wait again."""
    at = AppTest.from_string(LIVE_CHART_SCRIPT, default_timeout=120).run()
    assert not at.exception, at.exception
    # the live chart's label stays the same as its rows grow (a changed label would close an opened table); its count is inside
    assert [e.label for e in at.expander] == ["The data behind this chart", "The data behind this chart (2 rows)"]
    assert "2 rows so far." in [c.value for c in at.expander[0].caption]
    assert len(at.get("html")) == 1 and len(at.get("download_button")) == 1  # the live chart's table; the other's waits
    assert charts.data_key("live") not in at.session_state and charts.data_key("after") in at.session_state


def test_charts_carry_the_apps_own_look_not_streamlits_theme(monkeypatch):
    """Streamlit's chart theme is off (the browser skips restyling every figure) and the figure carries
    palette.TEMPLATE instead: nothing of plotly's default template left, axis text readable (4.5:1)."""
    from lab_ui.generation_view import SpecFigure

    monkeypatch.setenv("LLM_LAB_STRICT_PALETTE", "1")
    at = AppTest.from_string(CHART_SCRIPT.format(color=palette.BLUE), default_timeout=120).run()
    assert not at.exception, at.exception
    chart = at.get("plotly_chart")[0].proto
    assert chart.theme == ""  # theme=None
    template = json.loads(chart.spec)["layout"]["template"]
    assert template == palette.TEMPLATE  # replaced, not merged into plotly's default (which has "data" and a colorway of its own)
    layout = template["layout"]
    texts = [layout["font"]["color"], layout["title"]["font"]["color"], layout["hoverlabel"]["font"]["color"]]
    texts += [layout[axis]["tickfont"]["color"] for axis in ("xaxis", "yaxis")] + [layout[axis]["title"]["font"]["color"] for axis in ("xaxis", "yaxis")]
    assert all(palette.contrast(c, layout["paper_bgcolor"]) >= 4.5 for c in texts), texts
    spec = SpecFigure(data=[{"type": "bar", "x": ["a"], "y": [1]}], layout={"height": 200})
    palette.apply(spec)  # the generation chart's plain-dict figure takes the same look
    assert spec["layout"]["template"] == palette.TEMPLATE and spec["layout"]["height"] == 200


def test_a_colour_outside_the_palette_is_refused(monkeypatch):
    from lab_ui.charts import PaletteError, chart

    monkeypatch.setenv("LLM_LAB_STRICT_PALETTE", "1")
    with pytest.raises(PaletteError, match="#ff0000"):
        chart(go.Figure(go.Scatter(y=[1], line_color="#ff0000")), key="x", caption="a red line", table=[])
    at = AppTest.from_string(CHART_SCRIPT.format(color="#ff0000"), default_timeout=120).run()
    assert at.exception


def test_a_chart_without_a_caption_is_refused():
    with pytest.raises(ValueError, match="caption"):
        from lab_ui.charts import chart

        chart(go.Figure(), key="x", caption=" ", table=[])


def test_red_against_green_alone_is_not_in_the_palette():
    assert palette.check_figure(go.Figure([go.Scatter(y=[1], line_color="#16a34a"), go.Scatter(y=[2], line_color="#dc2626")]))
    # Text colours reach 4.5:1 on white (WCAG AA); lines and marks need 3:1 (non-text contrast), which orange and yellow do not reach:
    # they are never the only way a chart tells two things apart.
    assert all(palette.contrast(c) >= 4.5 for c in (palette.INK, palette.MUTED, palette.BLUE))


def test_the_data_table_formats_numbers_as_st_table_did_and_escapes_text():
    import numpy as np

    from lab_ui.charts import data_table_html

    rows = [{"p": np.float32(0.5), "n": np.int64(12345), "seen": True, "tiny": -1e-6, "mixed": 2, "text": "<b>&"},
            {"p": 1234.5, "n": 7, "seen": np.bool_(False), "tiny": 0.25, "mixed": 0.5, "text": "ok"}]
    [table] = re.findall(r"<tbody>(.*)</tbody>", data_table_html(rows))
    cells = re.findall(r"<td( class=\"num\")?>(.*?)</td>", table)
    assert [text for _, text in cells] == ["0.5000", "12345", "true", "0.0000", "2.0000", "&lt;b&gt;&amp;",
                                           "1,234.5000", "7", "false", "0.2500", "0.5000", "ok"]
    assert [bool(num) for num, _ in cells[:6]] == [True, True, False, True, True, False]  # numbers right-aligned
    assert "<script" not in data_table_html([{"token": "<script>alert(1)</script>"}])


SHAPED_SCRIPT = """
import plotly.graph_objects as go
from lab_ui.charts import chart
fig = go.Figure(go.Heatmap(z=[[1, 0], [0.5, 0.5]]))
fig.update_layout(height=900, yaxis=dict(scaleanchor="x"))
chart(fig, key="map", caption="the first row looks at itself.", table=[{"row": 1, "weight": 1}], aspect=1.5,
      box_css=lambda box: box + " .gtitle{font-size:calc(100cqw / 30)}")
"""


def test_a_chart_of_fixed_shape_takes_its_height_from_a_box_that_follows_the_page_width():
    """`aspect`: the figure's own height becomes the box's largest, the CSS aspect-ratio its shape, and the
    chart fills the box (the browser check: a phone's head map takes 358 px of height where it took 900, README)."""
    at = AppTest.from_string(SHAPED_SCRIPT, default_timeout=120).run()
    assert not at.exception, at.exception
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert "height" not in spec["layout"]  # the box decides it
    styles = [h.proto.body for h in at.get("html")]
    box = f".st-key-{charts.box_key('map')}"
    # a CSS container, so the chart's own CSS (box_css) can size its text to the box's width
    assert any(f"{box}{{aspect-ratio:1.5000;max-height:900px;container-type:inline-size}}{box} .gtitle{{font-size:calc(100cqw / 30)}}" in s
               for s in styles), styles
    assert at.caption[0].value == "the first row looks at itself."
