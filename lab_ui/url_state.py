"""A chapter's view in its URL, so that a link reproduces what one sees (as TensorFlow Playground does).

Choices (sliders, radios, number boxes, toggles) use Streamlit's own binding, `bind="query-params"`
on the widget: the widget's key is the parameter's name, a value other than the default is written
to the URL as it changes, a link's value is read back on load, and a value the widget cannot take
(out of range, not an option, not a number) is dropped for the default, with no error. Keys bound
so stay the same whatever the model (a key that changes with the model would change the link).

Texts (prompts) need more: a person may paste 100,000 characters, and a URL must stay short. So
`text_box` binds a text box by hand through `st.query_params`: the URL carries the text only while
it has at most `URL_TEXT_CAP` characters, and the page says so when it is longer (the link then
keeps the other settings, and the text box opens with its default). A link's text longer than the
cap (a hand-edited URL) is ignored the same way.

Moving to another chapter in the sidebar leaves the previous chapter's settings out of the URL
(the navigation opens a page without them; tests/test_browser_url_state.py checks it), and the desk
id is put back at once. A deep link on a fresh server keeps its settings through the hand-over to
app.py (lab_ui/shell.py).

Query parameters the app uses otherwise: `run` (the desk id, lab_ui/state.py) and `chapter` (a deep
link on a fresh server, lab_ui/shell.py); bound keys must not take those names.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

URL_TEXT_CAP = 1_000  # characters of a text a link carries (about 3 to 9 bytes each once encoded)


def linked_text(key: str, default: str, cap: int = URL_TEXT_CAP) -> str:
    """The text a link gives for `key`, or `default` when it gives none or one longer than `cap`."""
    linked = st.query_params.get(key)
    return linked if linked is not None and len(linked) <= cap else default


def sync_text(key: str, text: str, default: str, cap: int = URL_TEXT_CAP) -> bool:
    """Write `text` to the URL under `key` (none when it is the default or too long); True when too long
    (a default longer than the cap is no loss: the link gives it by leaving the text out)."""
    too_long = len(text) > cap and text != default
    if text == default or too_long:
        if key in st.query_params:
            del st.query_params[key]
    elif st.query_params.get(key) != text:
        st.query_params[key] = text
    return too_long


def text_box(widget: Callable, label: str, key: str, default: str, cap: int = URL_TEXT_CAP, **kwargs) -> str:
    """`widget` (st.text_area, st.text_input, or a column's) whose text is kept in the URL under `key`.

    The text starts from the link on a session's first visit to the page (else `default`); callbacks
    may still set `st.session_state[key]`, as for any widget.
    """
    if key not in st.session_state:
        st.session_state[key] = linked_text(key, default, cap)
    text = widget(label, key=key, **kwargs)
    if sync_text(key, text, default, cap):
        where = getattr(widget, "__self__", st)  # the column the text box is in
        where.caption(f"This text has {len(text):,} characters: a link to this page keeps texts of up to {cap:,}, "
                      "so the address bar keeps the other settings but not the text.")
    return text
