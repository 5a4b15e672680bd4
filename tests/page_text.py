"""What a learner reads on a page, as the tests see it: every page of the course rendered with
AppTest, and the visible text of its elements gathered (titles, Markdown, captions, alerts, widget
labels and options, HTML bodies with the tags taken out, tables, chart titles and axis titles).

Used by the glossary test (tests/test_glossary.py: every technical word a page uses is defined on
that page) and by the sentence scans. Run it as a script to print a page's text:
    PYTHONPATH=.:tests python tests/page_text.py pages/attention.py
"""

from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path

from streamlit.testing.v1 import AppTest

from lab_ui.charts import data_key

ROOT = Path(__file__).resolve().parent.parent
WORDS_BOX = "Words on this page"  # lab_ui.glossary.words_box's expander: its own definitions are not "uses"


def course_pages() -> list[str]:
    from lab_ui.course import chapters

    return [c.path for c in chapters() if (ROOT / c.path).exists()]


def _children(node):
    children = getattr(node, "children", None)
    return [] if children is None else list(children.values())


def _chart_text(spec: str) -> list[str]:
    """Titles of a plotly chart: the layout's title and axis titles, and trace names."""
    try:
        fig = json.loads(spec)
    except ValueError:
        return []
    out = []
    layout = fig.get("layout", {})

    def title(obj):
        t = obj.get("title") if isinstance(obj, dict) else None
        t = t.get("text") if isinstance(t, dict) else t
        if isinstance(t, str):
            out.append(t)

    title(layout)
    for k, v in layout.items():
        if re.fullmatch(r"[xy]axis\d*|coloraxis", k) and isinstance(v, dict):
            title(v)
            title(v.get("colorbar", {}))
    for trace in fig.get("data", []):
        if isinstance(trace.get("name"), str):
            out.append(trace["name"])
    return out


def strip_tags(text: str) -> str:
    """The text of an HTML body (style and script blocks left out).

    >>> strip_tags("<style>.a{b:c}</style><b>x</b> &amp; y")
    ' x  & y'
    """
    text = re.sub(r"<(style|script)\b.*?</\1>", "", text, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", " ", text))


def text_blocks(at) -> list[str]:
    """The texts of the page's text boxes (lab_ui.widgets.text_block: a prompt, a sample, token ids), as a learner reads them."""
    out = []
    for node in at.get("html"):
        body = node.value if isinstance(getattr(node, "value", None), str) else node.proto.body
        out += [html.unescape(t) for t in re.findall(r'<pre class="lab-text"[^>]*>(.*?)</pre>', body, flags=re.S)]
    return out


def open_chart_data(at: AppTest) -> AppTest:
    """Open every chart's data expander on the page, as a learner's click does (lab_ui.charts draws a
    chart's table once its expander is open), and run the page again."""
    closed = [k for k in at.session_state.keys() if str(k).endswith(data_key("")) and not at.session_state[k]]
    for k in closed:
        at.session_state[k] = True
    return at.run() if closed else at


def chart_tables(at: AppTest) -> list:
    """The HTML tables on the page (lab_ui.charts draws each chart's data as one, and some pages their
    small tables), every chart's data expander opened first (`open_chart_data`: the page runs again),
    as pandas DataFrames of what a learner reads: numbers shown as numbers ("1,234.5000" -> 1234.5),
    text as text."""
    import pandas as pd

    open_chart_data(at)

    def value(cell: str):
        plain = cell.replace(",", "")
        for kind in (int, float):
            try:
                return kind(plain)
            except ValueError:
                pass
        return cell

    tables = []
    for node in at.get("html"):
        body = node.value if isinstance(getattr(node, "value", None), str) else node.proto.body
        for table in re.findall(r'<table class="lab-data">(.*?)</table>', body, flags=re.S):
            columns = [html.unescape(c) for c in re.findall(r"<th\b[^>]*>(.*?)</th>", table, flags=re.S)]
            rows = [[value(html.unescape(c)) for c in re.findall(r"<td\b[^>]*>(.*?)</td>", row, flags=re.S)]
                    for row in re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>", 1)[1], flags=re.S)]
            tables.append(pd.DataFrame(rows, columns=columns))
    return tables


# Code blocks are left out: they show code (the runner), not sentences to a learner.
TEXT_ELEMENTS = {"markdown", "caption", "title", "header", "subheader", "text", "latex", "alert", "error", "warning",
                 "info", "success", "exception", "metric", "json"}


def visible_text(node, skip_words_box: bool = True) -> list[str]:
    """The strings a learner reads under `node` (an AppTest root or block)."""
    out: list[str] = []
    kind = getattr(node, "type", None)
    proto = getattr(node, "proto", None)
    label = getattr(node, "label", None)
    if kind in ("expander", "expandable", "tab") and isinstance(label, str):
        if skip_words_box and label.startswith(WORDS_BOX):
            return out
        out.append(label)
    if kind in TEXT_ELEMENTS or kind == "html":
        v = getattr(node, "value", None)
        if isinstance(v, str) and v:
            out.append(strip_tags(v) if kind == "html" else v)
        if kind == "metric" and proto is not None:  # a tile's label and its tooltip are read as well as its value
            out += [t for t in (proto.label, proto.help) if t]
    elif proto is not None and kind not in ("plotly_chart",):
        for attr in ("label", "help", "placeholder"):
            v = getattr(proto, attr, None)
            if isinstance(v, str) and v:
                out.append(v)
    if kind in ("radio", "selectbox", "multiselect", "select_slider", "button_group") and getattr(node, "options", None):
        out += [str(o) for o in node.options]
    if kind == "plotly_chart" and proto is not None:
        out += _chart_text(proto.spec)
    if kind in ("table", "dataframe", "arrow_data_frame"):
        try:
            frame = node.value
            out += [str(c) for c in frame.columns] + [str(v) for v in frame.astype(str).to_numpy().ravel()[:2000]]
        except Exception:  # a table AppTest cannot decode is not text we can check
            pass
    for child in _children(node):
        out += visible_text(child, skip_words_box)
    return out


def render(path: str, at: AppTest | None = None, timeout: float = 240, open_data: bool = True) -> AppTest:
    at = at or AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout).run()
    assert not at.exception, at.exception
    at.switch_page(path).run()
    assert not at.exception, at.exception
    if open_data:
        open_chart_data(at)  # what a learner can open is read too: the charts' data tables
        assert not at.exception, at.exception
    return at


def page_text(at: AppTest) -> str:
    return "\n".join(visible_text(at.main))


if __name__ == "__main__":
    for p in sys.argv[1:] or course_pages():
        print(f"===== {p}")
        print(page_text(render(p)))
