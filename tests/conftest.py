"""Shared fixtures: small models and corpora so the whole suite runs in minutes on 2 cores."""

import atexit
import functools
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

# The development machine's environment sets PYTHONDONTWRITEBYTECODE=1, so every run of pytest compiled
# llm_core, lab_ui and the test files from source again (and pytest rewrote every test file's asserts
# again): collecting the fast loop took 13 s of CPU instead of 8 (load 4). The compiled files go where
# Python keeps them, in __pycache__/ folders that git ignores. Before the imports below.
sys.dont_write_bytecode = False

# Before torch loads libgomp, which reads OMP_WAIT_POLICY once. With the default policy, a thread of
# a two-thread team that waits for the other spins on the CPU; on the 2-core machine, shared with
# other work, the thread it waits for is often the one it keeps off the CPU. Measured there (load
# average 9-10): 60 steps of a nano model took 113-134 s on two threads, 12 s on two threads with
# OMP_WAIT_POLICY=PASSIVE, and 9-15 s on one thread. Servers, worker jobs and DDP ranks started by
# the tests inherit it (and OMP_NUM_THREADS=1, below).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Every chart drawn in a test must use lab_ui.palette's colours (lab_ui/charts.py raises otherwise).
os.environ.setdefault("LLM_LAB_STRICT_PALETTE", "1")
if "torch" in sys.modules:  # a plugin imported torch first: say so rather than run slow without a word
    warnings.warn("torch was imported before tests/conftest.py: OMP_WAIT_POLICY=PASSIVE does not apply to this process", stacklevel=1)

import pytest  # noqa: E402
import torch  # noqa: E402

from llm_core.model.config import ModelConfig, model_preset  # noqa: E402
from llm_core.text.data import load_corpus  # noqa: E402
from llm_core.text.tokenizers import CharTokenizer  # noqa: E402
from llm_core.training.loop import build_model  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

# Every test run keeps desks and models in a data folder of its own, removed at exit: never the default
# lab-data/, and never another run's (lab_ui/state.py, llm_core/lab/store.py). Browser tests' servers
# get one each (tests/browser_harness.py).
TEST_DATA_DIR = tempfile.mkdtemp(prefix="llm-lab-test-data-")
os.environ["LLM_LAB_DATA_DIR"] = TEST_DATA_DIR
atexit.register(shutil.rmtree, TEST_DATA_DIR, True)

# One torch thread for the tests' own work (the main thread), and for the processes the tests start
# (servers, worker jobs, DDP ranks, Ray). Measured on the 2-core machine while other work ran (load
# average 8-11): 60 steps of a nano model took 9-16 s on one thread and 113-134 s on two (see
# OMP_WAIT_POLICY above: it fixes most of it too). The models here are
# small, so a second thread buys little even on a quiet machine. `TRAINING_THREADS` (read by
# llm_core.model.device at import, before these lines run) keeps this process's core count, so the
# test that thread jobs train on all cores still checks something.
torch.set_num_threads(1)
os.environ["OMP_NUM_THREADS"] = "1"


# --- AppTest's fixed costs, paid once per process instead of once per run -------------------------
# Measured on the 2-core machine (load 4-6), each is paid by every AppTest (a few hundred in the suite)
# or by every run of one, for an answer that cannot change while the tests run. A real server pays
# each once; AppTest builds them anew.
# - Its first run scans the metadata of every installed package for Streamlit components
#   (streamlit.components.v2.manifest_scanner, through BidiComponentManager): 0.5-2.3 s each time,
#   and none of the installed packages is one.
# - Every run compiles app.py and the page anew (a fresh ScriptCache per run: read, parse, Streamlit's
#   "magic" rewrite of the syntax tree, compile), about an eighth of the page tests' CPU time. The
#   shared cache below is keyed by the file's path, size and modification time, so a script that
#   changes on disk is compiled again.
_COMPILED_SCRIPTS: dict = {}


def share_apptest_fixed_costs() -> None:
    from streamlit import config
    from streamlit.components.v2 import manifest_scanner
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1 import app_test, local_script_runner

    if getattr(app_test, "llm_lab_shared_costs", False):
        return
    app_test.llm_lab_shared_costs = True
    first_scan = functools.cache(manifest_scanner.scan_component_manifests)
    manifest_scanner.scan_component_manifests = lambda max_workers=None: list(first_scan())  # a copy: callers may extend it

    class SharedScriptCache(ScriptCache):
        def get_bytecode(self, script_path: str):
            path = os.path.abspath(script_path)
            stat = os.stat(path)
            key = (path, stat.st_size, stat.st_mtime_ns, config.get_option("runner.magicEnabled"))
            if key not in _COMPILED_SCRIPTS:
                _COMPILED_SCRIPTS[key] = super().get_bytecode(path)
            return _COMPILED_SCRIPTS[key]

    app_test.ScriptCache = local_script_runner.ScriptCache = SharedScriptCache


def pytest_runtest_setup(item):
    """Only once AppTest is imported (a test file that needs it imports it), so a run of the library's
    tests alone does not import Streamlit for nothing."""
    if "streamlit.testing.v1.app_test" in sys.modules:
        share_apptest_fixed_costs()


try:
    import playwright  # noqa: F401
except ImportError:
    # The browser tests cannot even be imported without Playwright (a GPU machine's Python, say): leave
    # them out, and say so in the header, instead of 14 collection errors. requirements.txt installs it.
    collect_ignore_glob = ["test_browser_*.py"]


def pytest_report_header(config):
    if "collect_ignore_glob" in globals():
        return "browser tests (tests/test_browser_*.py) left out: Playwright is not installed"


def pytest_collection_modifyitems(items):
    """Every test in a `test_browser_*.py` file drives Chromium: mark it `browser` so the fast loop
    (`pytest -m "not browser and not slow"`) leaves it out."""
    for item in items:
        if item.path.name.startswith("test_browser_"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def shakespeare() -> str:
    return load_corpus("tinyshakespeare")


@pytest.fixture(scope="session")
def char_tok(shakespeare) -> CharTokenizer:
    return CharTokenizer.from_text(shakespeare)


def perturbed_model(config: ModelConfig, seed: int = 0, scale: float = 0.2):
    """A model with random (not zero-initialised) projections, so every path matters in a comparison."""
    model = build_model(config, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * scale)
    return model.eval()


@pytest.fixture
def nano_model(char_tok):
    return perturbed_model(model_preset("nano", char_tok.vocab_size))


# --- browser fixtures (used only by tests that ask for them) ---

@pytest.fixture(scope="session")
def app_server():
    from browser_harness import StreamlitServer

    server = StreamlitServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    from browser_harness import launch_browser
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_browser(p)
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    from browser_harness import screenshot

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    console = request.node.browser_console = []  # printed if the test fails (pytest_runtest_makereport)
    pg.on("console", lambda msg: console.append(f"{time.strftime('%H:%M:%S')} {msg.type}: {msg.text}"[:400]))
    yield pg
    try:
        screenshot(pg, request.node.name.replace("/", "_").replace("[", "-").replace("]", ""))
    finally:
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed browser test prints the end of its server's log (each script run's page and seconds:
    the harness sets LLM_LAB_RUN_TIMES) and of its page's browser console: a failure seen once in CI,
    on a clean clone that is gone afterwards, can then be read from CI's output."""
    report = yield
    if report.when == "call" and report.failed:
        server = getattr(item, "funcargs", {}).get("app_server")
        console = getattr(item, "browser_console", None)
        if console:
            report.sections.append((f"browser console, last {min(len(console), LOG_LINES_ON_FAILURE)} messages", "\n".join(console[-LOG_LINES_ON_FAILURE:])))
        log_path = getattr(server, "log_path", None)
        if log_path is not None and log_path.exists():
            tail = log_path.read_text(errors="replace").splitlines()[-LOG_LINES_ON_FAILURE:]
            report.sections.append((f"server log, last {len(tail)} lines", "\n".join(tail)))
        stacks = server_stacks(server)
        if stacks:
            report.sections.append(("the server's script and job threads at the failure (py-spy dump)", stacks))
    return report


LOG_LINES_ON_FAILURE = 80


def server_stacks(server) -> str:
    """Every thread's stack in the test's server, where py-spy is installed (a page that never finished
    its run shows where it waits); empty otherwise."""
    proc = getattr(server, "proc", None)
    if proc is None or proc.poll() is not None or shutil.which("py-spy") is None:
        return ""
    import subprocess

    try:
        done = subprocess.run(["py-spy", "dump", "--pid", str(proc.pid)], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"py-spy dump failed: {exc}"
    threads = re.split(r"\n(?=Thread )", done.stdout + done.stderr)
    ours = [t for t in threads if re.search(r"scriptrunner|lab_ui|llm_core|pages/|app\.py", t)]  # not the server's idle pool threads
    return "\n".join(ours)[-8_000:]


# --- AppTest sessions that start background jobs (Training, Making an assistant) ---

OPEN_APPS: list = []  # AppTests whose jobs are stopped after each test


@pytest.fixture
def stop_jobs_afterwards():
    yield
    while OPEN_APPS:
        stop_jobs_of(OPEN_APPS.pop())


def stop_jobs_of(at) -> None:
    for tracked in dict(at.session_state["lab_jobs"] if "lab_jobs" in at.session_state else {}).values():
        tracked.job.stop()
        tracked.job.join(120)


def poll_until(at, done, timeout=240.0, every=0.5):
    """Rerun the page like its polling fragment does until done(at) holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception, at.exception
        failed = [e.value for e in at.error if e.value.startswith("This run failed")]  # a job that failed will not get there
        assert not failed, failed[0]
        if done(at):
            return at
        time.sleep(every)
    raise AssertionError("the page did not reach the expected state in time")


def metric(at, label) -> str:
    return next(m.value for m in at.metric if m.label == label)
