"""The glossary: one source of truth, and every chapter defines every technical word it shows.

The page test renders each chapter with AppTest and reads its visible text (tests/page_text.py):
every glossary term or known jargon word found there must be among the terms the chapter's
"Words on this page" box defines (its `terms` in assets/teaching/course.toml), so a word added to a
page without a definition fails here.
"""

from __future__ import annotations

import pytest
from conftest import metric, poll_until
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
    at = AppTest.from_string(script, default_timeout=120).run()
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


def test_a_definition_that_answers_a_prediction_names_it_and_has_a_version_without_the_answer():
    declared = {k for c in course.chapters() for k in c.predictions}
    held = [t for t in glossary.terms() if t.until]
    assert {t.term for t in held} >= {"temperature", "greedy decoding", "in-context learning", "divergence", "learning rate", "hallucination",
                                      "compute-optimal", "Chinchilla", "reward hacking", "stalling"}
    for t in held:
        assert set(t.until) <= declared, f"{t.term}: {t.until} are not all predictions of chapters"
        assert t.before and t.before != t.definition, t.term
        assert not [k for k in glossary.used_in(t.before) if k.startswith("?")], t.term  # plain words too


def test_the_words_box_and_a_tooltip_hold_back_an_answer_until_its_guess_is_locked():
    """The audit: Generate's box said "below 1 the likely tokens get even likelier" above the question
    "below 1, does the favourite's probability go up or down?"; Train a model's learning-rate tooltip said
    "too large and the loss ... shoots up" above "what happens at learning rate 10?"."""
    from gen_helpers import open_generation

    temperature = glossary.lookup("temperature")

    def box(at) -> str:
        return "\n".join(m.value for m in at.markdown if m.value.startswith("- **"))

    at = open_generation(ROOT)
    assert f"**temperature**: {temperature.before} (The rest of this definition appears once your guess in Generate is locked.)" in box(at)
    assert temperature.definition not in box(at)
    at.radio(key="predict_generation_temperature_guess").set_value("up").run()
    at.button(key="predict_generation_temperature_lock").click().run()
    assert f"**temperature**: {temperature.definition}" in box(at)
    greedy = glossary.lookup("greedy decoding")
    assert greedy.before in box(at) and greedy.definition not in box(at)  # its own question is still open

    rate = glossary.lookup("learning rate")
    at.switch_page("pages/training.py").run()
    assert not at.exception, at.exception
    # the page measures this machine's speed in a worker once: wait for it, or it outlives the test
    poll_until(at, lambda at: metric(at, "Seconds per step") != "measuring…")
    slider = next(s for s in at.select_slider if s.key == "tr_lr")
    assert rate.before in slider.help and "shoots up" not in slider.help
