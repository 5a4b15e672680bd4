"""User text is never read as Markdown or HTML, on any page.

Every chapter of the course's navigation (lab_ui/course.py) is opened, every text box it shows (text inputs, text areas,
chat inputs, including boxes that appear only after another was filled) gets the same hostile
text, and then every element on the page is checked: wherever the text shows up, it must be in an
element that shows text literally (st.text, st.code, a table, a widget's own value) or escaped
HTML, never in a Markdown body, a label, an alert or a chart label as live markup. New chapters
are covered as soon as they are added to assets/teaching/course.toml.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import perturbed_model
from streamlit.testing.v1 import AppTest

from lab_ui.state import CURRENT_KEY, REGISTRY_KEY, ModelEntry
from llm_core.model.config import model_preset
from llm_core.text.tokenizers import TiktokenTokenizer

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = "**bold** <b>x</b> <script>alert(1)</script> [a](javascript:x) $E=mc^2$ _under_"
# What would be live markup if the text reached a renderer unescaped.
AS_MARKDOWN = ["**bold**", "<b>x</b>", "<script>", "](javascript:", "$E=mc^2$", "_under_"]
AS_HTML = ["<b>x</b>", "<script>", "javascript:x\""]
TEXT_BOXES = ("text_input", "text_area", "chat_input")
LITERAL = {"code", "text", "json", "dataframe", "arrow_data_frame", "table"} | set(TEXT_BOXES)


def pages() -> list[str]:
    """The page files of the course (assets/teaching/course.toml, as app.py's navigation shows them)."""
    from lab_ui.course import chapters, existing

    return [c.path for c in chapters() if existing(c)]


def elements(node):
    """Every element under a node of AppTest's tree (blocks are walked, not returned)."""
    children = getattr(node, "children", None)
    if children is None:
        yield node
        return
    for child in children.values():
        yield from elements(child)


def strings(message) -> list[str]:
    """Every string field of a protobuf message, nested messages and repeated fields included."""
    found = []
    for _, value in message.ListFields():
        values = [value] if isinstance(value, str) or hasattr(value, "ListFields") or not hasattr(value, "__iter__") else value
        for v in values:
            if isinstance(v, str):
                found.append(v)
            elif hasattr(v, "ListFields"):
                found.extend(strings(v))
    return found


def markup_found(at: AppTest) -> list[str]:
    problems = []
    for root in (at.main, at.sidebar):
        for el in elements(root):
            kind, proto = getattr(el, "type", "?"), getattr(el, "proto", None)
            if proto is None or kind in LITERAL:
                continue
            if kind == "html":
                problems += [f"html: {bad!r} unescaped" for bad in AS_HTML if bad in proto.body]
                continue
            needles = AS_HTML if kind == "plotly_chart" else AS_MARKDOWN
            for s in strings(proto):
                # Also with HTML tags taken out: token chips sent through Markdown put `**`, `bold`
                # and `**` in three spans, and Markdown would still make that bold.
                joined = re.sub(r"<[^>]*>", "", s).replace("·", " ")
                problems += [f"{kind}: {bad!r} in {s[:120]!r}" for bad in needles if bad in s or bad in joined]
    return problems


def fill_every_text_box(at: AppTest, rounds: int = 3) -> int:
    """Type HOSTILE into every text box, again for boxes that appear after a run; returns how many."""
    filled: set = set()
    for _ in range(rounds):
        new = [box for kind in TEXT_BOXES for box in getattr(at, kind) if (box.type, box.key or box.label) not in filled]
        if not new:
            break
        for box in new:
            filled.add((box.type, box.key or box.label))
            box.set_value(HOSTILE)
        at.run()
        assert not at.exception, at.exception
    return len(filled)


@pytest.fixture(scope="module", params=["bundled character model", "GPT-2 tokenizer model"])
def app(request):
    """The app with each kind of current model: the character model cannot read most of the hostile
    text (and says so), a GPT-2-vocabulary model reads all of it and draws it as tokens."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240).run()
    assert not at.exception
    if request.param.startswith("GPT-2"):
        tokenizer = TiktokenTokenizer("r50k_base")
        name = "nano GPT-2 vocabulary (test)"
        model = perturbed_model(model_preset("nano", tokenizer.vocab_size), seed=3)
        at.session_state[REGISTRY_KEY][name] = ModelEntry(name, model, tokenizer, {}, "trained")
        at.session_state[CURRENT_KEY] = name
    return at


@pytest.mark.slow
@pytest.mark.parametrize("path", pages())
def test_typed_markup_is_never_rendered_as_markup(app, path):
    at = app.switch_page(path).run()
    assert not at.exception, at.exception
    filled = fill_every_text_box(at)
    assert markup_found(at) == [], f"{filled} text boxes filled"


def test_the_check_catches_markdown_and_html():
    """The checker itself fails on a page that passes user text to st.markdown or unescaped HTML."""
    script = (
        "import streamlit as st\n"
        "t = st.text_input('t', key='t')\n"
        "st.markdown(f'You typed {t}')\n"
        "st.html(f'<p>{t}</p>')\n"
        "st.code(t)\n"
    )
    at = AppTest.from_string(script).run()
    fill_every_text_box(at)
    found = markup_found(at)
    assert any(f.startswith("markdown:") for f in found) and any(f.startswith("html:") for f in found)
    assert not any(f.startswith("code") for f in found)
