"""Keep every page inside the app shell (app.py's chapter navigation and sidebar), with public
Streamlit calls only.

Because a `pages/` folder sits next to app.py, Streamlit starts each server in its legacy
multipage mode and only leaves it once `st.navigation` runs (in app.py). If the first visitor of a
fresh server opens a chapter's URL directly (http://host/tokenization), Streamlit runs that page
file on its own: no app.py, no chapters, no sidebar, not wide, and it would stay so for every later
visitor. So:

- app.py calls `enter_shell()` right after `st.navigation`: this session is inside the shell, and a
  deep link handed over (below) is followed to its chapter.
- every page calls `ensure_app_shell()` first: when app.py has not run for this session, it
  switches to app.py (`st.switch_page`), carrying the chapter's URL path in a query parameter
  beside the link's own (a chapter's settings, lab_ui/url_state.py).
  app.py then runs, its `st.navigation` ends the legacy mode for the whole server, and
  `enter_shell()` switches to the chapter asked for.

Tested against Streamlit 1.67 (requirements.txt pins the tested range); the browser test
`test_a_deep_link_on_a_fresh_server_still_gets_the_app_shell` fails the day this stops working.
Under AppTest app.py runs first (tests open chapters from it), so pages are already in the shell.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import streamlit as st

SHELL_KEY = "lab_app_shell"  # session state: app.py has run in this session
DEEP_LINK = "chapter"  # query parameter: the chapter a deep link asked for
PAGES = Path(__file__).resolve().parent.parent / "pages"


def chapter_of(url: str | None) -> str | None:
    """The chapter a URL names, if it is one of pages/*.py.

    >>> chapter_of("http://localhost:8501/tokenization?x=1"), chapter_of("http://h/"), chapter_of("http://h/../app")
    ('tokenization', None, None)
    """
    name = urlparse(url or "").path.strip("/").rsplit("/", 1)[-1]
    return name if re.fullmatch(r"[a-z_]+", name) and (PAGES / f"{name}.py").exists() else None


def enter_shell() -> None:
    """Called by app.py after st.navigation: mark the session, and finish a handed-over deep link."""
    st.session_state[SHELL_KEY] = True
    wanted = st.query_params.get(DEEP_LINK)
    if wanted is not None:
        del st.query_params[DEEP_LINK]
        if chapter_of(f"/{wanted}"):
            st.switch_page(f"pages/{wanted}.py", query_params=st.query_params.to_dict())  # the link's settings too (lab_ui/url_state.py)


def ensure_app_shell() -> None:
    """First call of every page: run app.py first if it has not run for this session."""
    if not st.session_state.get(SHELL_KEY):
        chapter = chapter_of(st.context.url)
        st.switch_page("app.py", query_params={**st.query_params.to_dict(), **({DEEP_LINK: chapter} if chapter else {})})
