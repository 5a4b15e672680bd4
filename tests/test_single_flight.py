"""Streamlit's caches compute a value once when several sessions ask for it at the same time.

A chapter's first visit on a fresh server, by a class opening it together, must cost the server
one computation, not one per session. The pages rely on `st.cache_resource` / `st.cache_data` for
that: on Streamlit 1.67 both hold a lock per cache key while the first caller computes, and the
others wait for its value (streamlit/runtime/caching/cache_utils.py, `compute_value_lock`). These
tests pin that behaviour, so an upgrade that loses it fails here rather than under a class.
"""

import threading
import time

import pytest
import streamlit as st


@pytest.mark.parametrize("decorator", [st.cache_resource, st.cache_data], ids=["cache_resource", "cache_data"])
def test_concurrent_first_calls_compute_once(decorator):
    calls = []
    started = threading.Event()

    @decorator(show_spinner=False)
    def heavy(name: str):
        calls.append(name)
        started.set()
        time.sleep(0.5)  # long enough that every other thread asks while this one computes
        return {"name": name, "value": 42}

    results = [None] * 6

    def session(i):
        results[i] = heavy("chapter")

    threads = [threading.Thread(target=session, args=(i,)) for i in range(6)]
    threads[0].start()
    assert started.wait(30)  # the first caller is computing; the other five arrive now
    for t in threads[1:]:
        t.start()
    for t in threads:
        t.join(60)
    assert calls == ["chapter"]  # one computation for six sessions
    assert all(r == {"name": "chapter", "value": 42} for r in results)
    heavy("another chapter")  # a different key is computed on its own
    assert calls == ["chapter", "another chapter"]
    decorator.clear()
