"""The Knowing chapter's shipped closed-book answers (llm_core/retrieval/shipped_answers.py): they are what the
shipped model answers live, they are used only for those weights and those questions, and the chapter's first
visit reads them instead of measuring the model again."""

import json
from pathlib import Path

import pytest
from conftest import OPEN_APPS, ROOT
from streamlit.testing.v1 import AppTest

from llm_core.retrieval import readers
from llm_core.retrieval.chapter import load_shipped
from llm_core.retrieval.shipped_answers import ANSWERS_PATH, chapter_facts, shipped_closed_rows
from llm_core.retrieval.world import make_world


@pytest.fixture(scope="module")
def closed():
    return load_shipped("closed-book")


@pytest.mark.slow
def test_the_shipped_answers_are_the_shipped_model_answering_live(closed):
    from llm_core.model.device import use_threads

    use_threads(1)  # as the pages and the command that made the file
    world = make_world(0)
    facts = chapter_facts(world)
    shipped = shipped_closed_rows(closed.model, closed.tokenizer, world, facts)
    live = readers.closed_book_rows(closed.model, closed.tokenizer, world, facts)
    assert shipped is not None and len(shipped) == len(live) == 240
    # The file was made on one CPU; another CPU's fp32 kernels round differently in the last digits: between the
    # Intel host that made it and an AMD EPYC host the largest difference was 1.2e-5 of the value (5 Dec 2026).
    # The chapter shows these as whole percentages; answers, verdicts and counts must match exactly.
    for s, r in zip(shipped, live):
        assert (s.fact, s.prompt, s.answer.text, s.correct, s.seen) == (r.fact, r.prompt, r.answer.text, r.correct, r.seen)
        assert s.answer.confidence == pytest.approx(r.answer.confidence, rel=1e-4, abs=1e-7)
        assert s.answer.token_probs == pytest.approx(r.answer.token_probs, rel=1e-4, abs=1e-7)
        assert s.answer.first_entropy == pytest.approx(r.answer.first_entropy, rel=1e-4, abs=1e-7)
    assert sum(r.correct for r in shipped) > 0 and sum(not r.correct for r in shipped) > 0  # both kinds of answer are in the file


def test_other_weights_other_questions_or_a_bad_file_are_measured_live(closed, tmp_path):
    world = make_world(0)
    facts = chapter_facts(world)
    reader = load_shipped("reader")
    assert shipped_closed_rows(reader.model, reader.tokenizer, world, facts) is None  # other weights
    assert shipped_closed_rows(closed.model, closed.tokenizer, world, facts[::-1]) is None  # other questions
    assert shipped_closed_rows(closed.model, closed.tokenizer, make_world(1), chapter_facts(make_world(1))) is None  # another world
    for name, text in (("missing.json", None), ("not-json.json", "ROMEO: O, she doth"), ("no-answers.json", json.dumps({"model_hash": "x"}))):
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        assert shipped_closed_rows(closed.model, closed.tokenizer, world, facts, path) is None
    record = json.loads(ANSWERS_PATH.read_text())
    assert record["command"].startswith("python -m llm_core.retrieval.shipped_answers") and record["model"] == "knowing-closedbook"
    rows = shipped_closed_rows(closed.model, closed.tokenizer, world, facts)
    assert [r.fact for r in rows] == facts and [r.seen for r in rows] == [world.seen.get(f.person, 0) for f in facts]


@pytest.mark.slow
@pytest.mark.usefixtures("stop_jobs_afterwards")
def test_the_chapters_first_visit_reads_the_shipped_answers(monkeypatch):
    import streamlit as st

    asked = []
    monkeypatch.setattr(readers, "closed_book_rows", lambda *a, **k: asked.append(a) or [])
    st.cache_resource.clear()  # a fresh server: the chapter's shared measurements are not yet made
    st.cache_data.clear()
    try:
        app = AppTest.from_file(str(Path(ROOT) / "app.py"), default_timeout=600).run()
        app.switch_page("pages/knowing.py").run()
        OPEN_APPS.append(app)
        assert not app.exception, app.exception
        assert asked == []  # the shipped model was not asked its 240 questions again
        assert any("people it never saw" in m.value for m in app.markdown)
    finally:
        st.cache_resource.clear()  # the chapter's memo holds no rows made while closed_book_rows was replaced
        st.cache_data.clear()
