"""Every chapter with a model a learner's run can leave behind: diverged, stalled, overfit, never trained.

Each chapter is rendered (AppTest, the real page scripts) with that model as the current one, and its
visible text is scanned: no exception, and no "nan", "inf" or "-0.00" reaches a sentence, a metric or a
table (issue 20: every outcome sentence is computed from the run, and a run can end badly).
"""

from __future__ import annotations

import re

import pytest
from page_text import ROOT, course_pages, page_text, render
from run_states import STATES, install
from streamlit.testing.v1 import AppTest

NON_FINITE = re.compile(r"(?<![\w.])(?:nan|NaN|inf|-inf|Infinity|−0\.0+|-0\.0+)(?![\w.])")
# chapters whose figures never read the current model (the shipped sweep, the shipped closed-book model and reader)
INDEPENDENT = {"pages/glossary.py"}


def leaks(text: str) -> list[str]:
    """Non-finite numbers and negative zeros in a page's text, with some context.

    >>> leaks("loss nan after 3 steps; change -0.00 points; 0.5 and nano and information")
    ['loss nan after 3', 'ange -0.00 points;']
    """
    return [text[max(0, m.start() - 5):m.end() + 8] for m in NON_FINITE.finditer(text)]


@pytest.mark.slow
@pytest.mark.parametrize("which", STATES)
def test_every_chapter_renders_a_degenerate_model_without_non_finite_numbers(which):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600).run()
    assert not at.exception, at.exception
    name = install(at, which)
    found = {}
    for path in course_pages():
        if path in INDEPENDENT:
            continue
        render(path, at, timeout=600)
        assert at.session_state["lab_current_model"] == name, (path, at.session_state["lab_current_model"])
        text = page_text(at)
        if bad := leaks(text):
            found[path] = bad[:5]
    assert not found, f"{which}: non-finite numbers on the pages: {found}"
