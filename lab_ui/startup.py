"""A fresh server's first page, drawn before torch is loaded, and the imports that follow it.

What it is: the rule for when a run may draw its page without torch (`torch_free`: the Overview,
before anything has imported torch, on a machine where torch could only choose the CPU), the
thread that imports torch, the model code and pandas once that page is sent and then reads the
tokenizer tables the next chapter needs (`import_the_rest`),
and the lock that keeps a plotly chart from meeting a half-imported pandas (`PANDAS_LOCK`).
Measured by benchmarks/app_startup.py: importing torch is about a second of a fresh server's
first run, and pandas a third of one.
What it is not: the page's figures (pages/overview.py reads them from llm_core/interpret/first_page.py).
"""

from __future__ import annotations

import importlib
import sys
import threading

from lab_ui import state

# What every other page imports: after the first page, not during it.
THE_REST = ("torch", "safetensors.torch", "llm_core.model.gpt", "llm_core.model.device", "llm_core.generation.sample")

# plotly looks pandas up in sys.modules without importing it, so a chart drawn while another thread
# is importing pandas met a half-made module ("partially initialized module 'pandas' has no attribute
# 'Series'": benchmarks/load_test.py, 8 sessions opening at once). pandas is imported, and a chart
# drawn by a run that has not imported it yet, under this lock (app.py).
PANDAS_LOCK = threading.Lock()

_started = threading.Lock()
_thread: list[threading.Thread] = []


def torch_free(url_path: str) -> bool:
    """Whether this run draws its page before torch is loaded: the Overview (url path "") while
    nothing has imported torch (a fresh server's first sessions), on a machine with no GPU driver."""
    return url_path == "" and "torch" not in sys.modules and not state.gpu_driver_present()


def import_pandas() -> None:
    with PANDAS_LOCK:
        import pandas  # noqa: F401


def load_tokenizer_tables() -> None:
    """The published tokenizers' tables (GPT-2, GPT-4, GPT-4o), read once per server: the chapter
    after the Overview, Tokenization, compares them. Reading them is about 0.3 s of the server holding
    the GIL; on a class's first visit to that chapter six sessions waited on it together (and on
    every other session's run meanwhile). Done here, it is done while the learners read the Overview."""
    from llm_core.text.tokenizers import TIKTOKEN_SPECS, load_tiktoken_encoding

    for name in TIKTOKEN_SPECS:
        load_tiktoken_encoding(name)


def _import_the_rest() -> None:
    for name in THE_REST:
        importlib.import_module(name)
    import_pandas()
    load_tokenizer_tables()


def import_the_rest() -> threading.Thread:
    """Start, once per server process, a thread importing what every other page needs (torch, the
    model code, pandas) and reading the tokenizer tables, so a learner's next click does not wait
    for them; returns the thread. A run
    that needs a module meanwhile waits for the import in progress (Python's import lock)."""
    with _started:
        if not _thread:
            _thread.append(threading.Thread(target=_import_the_rest, name="lab-import-the-rest", daemon=True))
            _thread[0].start()
        return _thread[0]
