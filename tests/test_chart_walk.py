"""Walk every chapter as a learner opens it and check each chart it draws: it came through
lab_ui.charts.chart (so it has its caption, alt text, data table and CSV), its caption says
something, and the data table behind it has rows (issue 22: a sentence and a table behind every chart)."""

from __future__ import annotations

import pytest
from page_text import ROOT, course_pages, render
from streamlit.testing.v1 import AppTest
from test_charts import direct_chart_calls

from lab_ui import charts


@pytest.mark.slow
def test_every_chart_a_chapter_draws_has_a_caption_and_a_table(monkeypatch):
    drawn: list[tuple[str, str, int]] = []
    door = charts.chart

    def counted(fig, *, key, caption, table, **kw):
        drawn.append((key, caption, len(charts._rows(table))))
        return door(fig, key=key, caption=caption, table=table, **kw)

    monkeypatch.setattr(charts, "chart", counted)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600).run()
    assert not at.exception, at.exception
    direct, walked = direct_chart_calls(), {}
    for path in course_pages():
        if path in direct:  # still drawn without the door: test_charts.py lists it
            continue
        first = len(drawn)
        render(path, at, timeout=600, open_data=False)  # one run: each chart counted once
        mine = drawn[first:]
        plots = len(at.get("plotly_chart"))
        assert plots == len(mine), f"{path}: {plots} charts on the page, {len(mine)} through lab_ui.charts.chart"
        for key, caption, rows in mine:
            assert len(caption.split()) >= 6, (path, key, caption)  # a sentence, not a label
            assert rows > 0, (path, key, "an empty data table")
        walked[path] = len(mine)
    assert sum(walked.values()) >= 10, walked  # the chapters draw charts on a first visit (more after a guess or a run): the walk saw them
