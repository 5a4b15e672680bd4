"""The browser-test harness every page's tests use: a real `streamlit run app.py` on a free port,
driven by Debian's headless Chromium through Playwright.

Screenshots of every test land in tests/artifacts/ (kept whether the test passes or fails).
Browser tests never skip: without /usr/bin/chromium they fail and say how to install it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StreamlitServer:
    def __init__(self, app: str = "app.py", env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = ARTIFACTS / f"server-{self.port}.log"
        self.app = app
        self.env = {**os.environ, "LLM_LAB_RUN_TIMES": "1", **(env or {})}  # each script run's page and seconds in the log
        if "LLM_LAB_DATA_DIR" not in (env or {}):  # a data folder of its own (a test restarting a server passes one)
            self.env["LLM_LAB_DATA_DIR"] = tempfile.mkdtemp(prefix="llm-lab-server-data-")
        self.proc = None
        self.started_at = None

    def start(self, timeout: float = 60) -> StreamlitServer:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.log = open(self.log_path, "w")
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", self.app, "--server.headless=true", "--server.address=127.0.0.1",
             f"--server.port={self.port}", "--browser.gatherUsageStats=false", "--server.fileWatcherType=none",
             # Streamlit takes itself for a development copy where it is not installed under site-packages
             # (the GPU machine's wheels unpacked with pip --target) and then refuses --server.port
             "--global.developmentMode=false"],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, env=self.env,
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited early; see {self.log_path}:\n{self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=1) as r:
                    if r.read().strip() == b"ok":
                        return self
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"streamlit was not healthy within {timeout} s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if getattr(self, "log", None):
            self.log.close()


def launch_browser(playwright):
    if not Path(CHROMIUM).exists():
        raise RuntimeError("Chromium is missing: run `apt-get update && apt-get install -y chromium` (bash .ci/run does).")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


class ScriptRuns:
    """The app's script runs as the server reports them, read from the page's websocket: every
    `rerun_script` request the browser sends, and every `script_finished` the server answers with.
    wait_idle() waits on these states instead of guessing how long a rerun takes to begin."""

    def __init__(self, page):
        self.requested = 0  # rerun requests sent by the browser
        self.answered = 0  # requests followed by a finished run (not one cut short for a rerun)
        self.idle_at = 0  # `requested` when wait_idle last returned
        self.sent_at: list[float] = []  # time.perf_counter() of each request and each finished run, as the
        self.finished_at: list[float] = []  # network layer reports the frames (before the page has drawn them)
        page.on("websocket", self._attach)

    def answered_after(self, t0: float) -> float | None:
        """Seconds from the first request sent after t0 (an action, once the page has handled it) to the
        server's finished run that answered it, if both were seen: the server's part of a response."""
        asked = next((t for t in self.sent_at if t >= t0), None)
        done = next((t for t in self.finished_at if asked is not None and t >= asked), None)
        return None if done is None else done - asked

    def _attach(self, ws) -> None:
        ws.on("framesent", self._sent)
        ws.on("framereceived", self._received)

    def _sent(self, payload) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        message = BackMsg()
        if isinstance(payload, bytes) and _parses(message, payload) and message.WhichOneof("type") == "rerun_script":
            if not message.rerun_script.is_auto_rerun:  # a fragment's timer is not the action waited for
                self.requested += 1
                self.sent_at.append(time.perf_counter())

    def _received(self, payload) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        message = ForwardMsg()
        if isinstance(payload, bytes) and _parses(message, payload) and message.WhichOneof("type") == "script_finished":
            if message.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                self.answered = self.requested
                self.finished_at.append(time.perf_counter())


class SocketSession:
    """One Streamlit session over the app's websocket, as a browser's would be, that draws nothing
    (asyncio; the load test's socket walkers: the server's side of a learner whose browser is elsewhere).

    `open(title)` sends what a click in the sidebar sends (a rerun request for that chapter's page)
    and returns the seconds until the server's "script finished" for it (runs cut short by a rerun
    the app asks for are waited through), with the text of any exception the page showed.
    """

    def __init__(self, url: str):
        self.url = url.replace("http", "ws", 1).rstrip("/") + "/_stcore/stream"
        self.pages: dict[str, str] = {}  # chapter title -> page script hash, from the server's navigation message
        self.ws = None

    async def __aenter__(self):
        import websockets  # comes with Streamlit

        self.ws = await websockets.connect(self.url, subprotocols=["streamlit"], max_size=None, open_timeout=180, ping_interval=None)
        return self

    async def __aexit__(self, *exc):
        await self.ws.close()

    async def open(self, title: str | None = None) -> tuple[float, list[str]]:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        request = BackMsg()
        request.rerun_script.widget_states.SetInParent()
        if title is not None:
            request.rerun_script.page_script_hash = self.pages[title]
        t0 = time.perf_counter()
        await self.ws.send(request.SerializeToString())
        exceptions = []
        while True:
            msg = ForwardMsg()
            msg.ParseFromString(await asyncio.wait_for(self.ws.recv(), 180))
            kind = msg.WhichOneof("type")
            if kind == "navigation":  # the latest is st.navigation's (a first one lists the pages/ folder's files)
                self.pages = {page.page_name.split(" · ", 1)[-1]: page.page_script_hash for page in msg.navigation.app_pages}  # "2 · Tokenization"
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element" and msg.delta.new_element.WhichOneof("type") == "exception":
                exceptions.append(msg.delta.new_element.exception.message[:200])
            elif kind == "script_finished" and msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                return time.perf_counter() - t0, exceptions


def _parses(message, payload: bytes) -> bool:
    try:
        message.ParseFromString(payload)
        return True
    except Exception:  # not a Streamlit message (or another version's): ignore it
        return False


RUNS: dict[int, tuple] = {}  # id(page) -> (page, its runs), for pages opened with open_page


def runs_of(page) -> ScriptRuns | None:
    found = RUNS.get(id(page))
    return found[1] if found is not None and found[0] is page else None


def poll(page, done, timeout: float, what: str) -> None:
    """Wait until done() holds; Playwright delivers websocket events while the page waits."""
    deadline = time.monotonic() + timeout / 1000
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout / 1000:.0f} s for {what}")
        page.wait_for_timeout(20)


def wait_idle(page, timeout: float = 60_000) -> None:
    """Wait until the app has rendered and its script (and any rerun) has finished.

    For a page opened with open_page, "finished" is the server's word: every rerun the browser
    asked for has been answered by a finished run (not by the page's "notRunning" mark alone, which
    still shows the previous run until the server answers). The frontend sends an action's rerun
    request shortly after the event, not within it (a counter inside the page saw the send arrive
    late), so up to 150 ms are given for the request to show up; the wait ends as soon as it does,
    and some actions ask for none.
    """
    page.wait_for_selector("[data-testid='stAppViewContainer']", timeout=timeout)
    runs = runs_of(page)
    if runs is None:
        page.wait_for_timeout(150)  # no websocket view of this page: let a rerun begin
    else:
        try:
            poll(page, lambda: runs.requested > runs.idle_at, 150, "a rerun request")
        except TimeoutError:
            pass  # this action asked for no rerun
        poll(page, lambda: runs.answered >= runs.requested, timeout, "the app's script run to finish")
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout)
    if runs is not None:
        runs.idle_at = runs.requested


def lock_guess(page, main, question: str, option: str) -> None:
    """Pick an option of the "Predict, then see" checkpoint whose question contains `question`, and lock it in."""
    box = main.get_by_test_id("stVerticalBlock").filter(has_text=question).last
    box.get_by_text(option, exact=True).click()
    wait_idle(page)
    box.get_by_role("button", name="Lock in my guess").click()
    wait_idle(page)


def reload(page, timeout: float = 120_000) -> None:
    """Reload the page (a new Streamlit session) and wait until that session's first run has finished.

    wait_idle alone gives a rerun request 150 ms to show up; after a reload the new page must first
    load its scripts and connect, which on a loaded machine takes longer, and the "notRunning" mark
    it would then wait on is already there before the first run begins."""
    runs = runs_of(page)
    before = runs.requested if runs is not None else 0
    page.reload(timeout=timeout)
    if runs is not None:
        poll(page, lambda: runs.requested > before, timeout, "the reloaded page's first run request")
    wait_idle(page, timeout)


def open_page(page, base_url: str, url_path: str = "", timeout: float = 60_000) -> None:
    if runs_of(page) is None:
        RUNS[id(page)] = (page, ScriptRuns(page))
    page.goto(f"{base_url}/{url_path}", timeout=timeout)
    wait_idle(page, timeout)


def exceptions(page) -> list[str]:
    return [e.inner_text() for e in page.get_by_test_id("stException").all()]


def assert_no_exception(page) -> None:
    found = exceptions(page)
    assert not found, "the page shows an exception:\n" + "\n---\n".join(found)


PLOTLY_MARGINS_JS = """() => [...document.querySelectorAll('[class*="st-key-"] .js-plotly-plot')].map(gd => {
  const box = gd.closest('[class*="st-key-"]');
  const key = [...box.classList].find(c => c.startsWith('st-key-')).slice(7);
  const layout = gd._fullLayout || {}, asked = layout.margin || {}, drawn = layout._size || {};
  return {key, asked: [asked.l, asked.r, asked.t, asked.b], drawn: [drawn.l, drawn.r, drawn.t, drawn.b]};
})"""


def plotly_margins(page) -> list[dict]:
    """Each plotly chart on the page: its Streamlit key, the margins its figure asked for and the margins
    plotly drew it with (left, right, top, bottom). Drawn wider than asked means drawn twice (automargin)."""
    return page.evaluate(PLOTLY_MARGINS_JS)


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def main_area(page):
    return page.get_by_test_id("stMain")


def go_to(page, title: str) -> None:
    """Open a chapter through the sidebar, as a person would (the session stays the same)."""
    page.get_by_test_id("stSidebarNavLink").filter(has_text=title).click()
    wait_idle(page)


def set_number(page, label: str, value: int) -> None:
    box = main_area(page).get_by_role("spinbutton", name=label)
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)


def main_button(page, name: str):
    return main_area(page).get_by_role("button", name=name, exact=True)


def desk_cookie(context, page=None, timeout_s: float = 10.0) -> str | None:
    """The desk id this browser keeps: a cookie the page sets (lab_ui/state.py), never in the address.
    Given a page, waits up to `timeout_s` for the page to set it."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = next((c["value"] for c in context.cookies() if c["name"].startswith("llm_lab_desk_")), None)
        if found or page is None or time.monotonic() > deadline:
            return found
        page.wait_for_timeout(100)
