"""The glossary: one source of truth, and every chapter defines every technical word it shows.

The page test renders each chapter with AppTest and reads its visible text (tests/page_text.py):
every glossary term or known jargon word found there must be among the terms the chapter's
"Words on this page" box defines (its `terms` in assets/teaching/course.toml), so a word added to a
page without a definition fails here.
"""

from __future__ import annotations

import pytest
from page_text import ROOT, course_pages, page_text, render
from streamlit.testing.v1 import AppTest

from lab_ui import course, glossary


def test_every_term_is_defined_once_and_shown_live_somewhere():
    seen: dict[str, str] = {}
    keys = {c.key for c in course.chapters()}
    for t in glossary.terms():
        assert t.definition and len(t.definition) < 600, t.term
        assert t.chapter in keys, f"{t.term}: no chapter {t.chapter!r}"
        for form in t.forms:
            assert form.lower() not in seen, f"{form!r} belongs to both {seen[form.lower()]!r} and {t.term!r}"
            seen[form.lower()] = t.term
    assert len(glossary.terms()) >= 100


def test_definitions_use_no_undefined_jargon():
    """A definition may use other glossary terms (each defined too) but no jargon the glossary lacks."""
    for t in glossary.terms():
        unknown = [k for k in glossary.used_in(t.definition) if k.startswith("?")]
        assert not unknown, f"{t.term}: {unknown}"


def test_acronyms_are_spelled_out():
    for t in glossary.terms():
        if t.term.isupper() and len(t.term) > 1 and t.term not in ("UTF-8", "ASCII", "REINFORCE"):  # REINFORCE is a name, not initials
            assert t.spelled_out, f"{t.term} needs spelled_out"
    assert glossary.lookup("RLHF").heading == "RLHF (reinforcement learning from human feedback)"


def test_every_chapter_lists_only_glossary_terms():
    for c in course.chapters():
        missing = [n for n in c.terms if glossary.lookup(n) is None]
        assert not missing, f"{c.key}: {missing}"


def test_the_page_check_fails_on_a_word_added_without_its_definition():
    """The check itself: a page that says 'perplexity' and 'logits' with only 'token' defined fails on both."""
    script = (
        "from lab_ui import glossary\nimport streamlit as st\n"
        "glossary.words_box(['token'])\n"
        "st.markdown('Each token gets logits; the perplexity falls.')\n"
    )
    at = AppTest.from_string(script).run()
    assert not at.exception
    text = page_text(at)
    assert "Each token gets logits" in text and "Words on this page" not in text  # the box's own text is not a use
    assert glossary.undefined(text, ["token"]) == ["?perplexity", "logit"]


@pytest.fixture(scope="module")
def app():
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=240).run()


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in course_pages() if not p.endswith("glossary.py")])
def test_every_technical_word_a_chapter_shows_is_defined_on_it(app, path):
    chapter = next(c for c in course.chapters() if c.path == path)
    text = page_text(render(path, app))
    missing = glossary.undefined(text, chapter.terms)
    assert not missing, f"{chapter.key} uses {missing} without defining them: add them to its `terms` in assets/teaching/course.toml (and to glossary.toml if new)"


def test_every_source_a_term_names_is_in_the_register():
    from llm_core import literature

    named = {t.source for t in glossary.terms() if t.source}
    assert named and named <= set(literature.sources()), sorted(named - set(literature.sources()))
    assert glossary.citation("sennrich2016") == literature.cite("sennrich2016") != "sennrich2016"
