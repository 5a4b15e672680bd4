"""How long from `streamlit run app.py` to the first rendered page in headless Chromium.

    PYTHONPATH=. python benchmarks/app_startup.py [--runs 5] [--app benchmarks/startup_floor_app.py [--no-chart]]

Chromium is launched before the server starts, so its own start-up is not counted. Printed per
run, in seconds from the start of the `streamlit run` process: when /_stcore/health answers (the
server is ready); when the first script run starts (the browser has loaded the page and asked for
it) and how long that run takes (from the page's own `data-test-script-state`, watched from the
first moment by a MutationObserver); when the Overview's content is on screen (its "A model is two
files" heading, which follows the walkthrough, is visible); and when the page is complete (the
parameters chart drawn, the script done). Each run is a fresh server; the summary gives medians.
Prints figures and the load average beside them; asserts nothing.
"""

import argparse
import os
import statistics
import time

from playwright.sync_api import sync_playwright

from tests.browser_harness import StreamlitServer, launch_browser, wait_idle

# Records, in the page, when the first script run starts and ends (wall-clock ms since the epoch).
WATCH_SCRIPT_STATE = """
window.__labRun = {};
new MutationObserver(() => {
  const app = document.querySelector("[data-testid='stApp']");
  const state = app && app.getAttribute("data-test-script-state");
  if (state === "running" && !window.__labRun.started) window.__labRun.started = Date.now();
  if (state === "notRunning" && window.__labRun.started && !window.__labRun.done) window.__labRun.done = Date.now();
}).observe(document, {subtree: true, childList: true, attributes: true, attributeFilter: ["data-test-script-state"]});
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--app", default="app.py", help="the app to start (benchmarks/startup_floor_app.py: the floor, no torch and no model)")
    parser.add_argument("--no-chart", action="store_true", help="for the floor app: no plotly chart, and none waited for")
    args = parser.parse_args()
    healthy, started, script, content, rendered = [], [], [], [], []
    with sync_playwright() as p:
        browser = launch_browser(p)
        for run in range(args.runs):
            page = browser.new_page()
            page.add_init_script(WATCH_SCRIPT_STATE)
            server = StreamlitServer(args.app, env={"LAB_FLOOR_NO_CHART": "1"} if args.no_chart else None)
            t0, epoch0 = time.perf_counter(), time.time()
            server.start()
            t_health = time.perf_counter() - t0
            page.goto(server.url)
            page.get_by_role("heading", name="A model is two files").wait_for(timeout=300_000)
            t_content = time.perf_counter() - t0
            if not args.no_chart:
                # the page's chart: the Overview's parameters (HTML bars), or the floor app's plotly chart
                page.locator("[data-testid='stMain'] .lab-bars, [data-testid='stMain'] [data-testid='stPlotlyChart'] svg").first.wait_for(timeout=300_000)
            wait_idle(page, 300_000)
            t_render = time.perf_counter() - t0
            marks = page.evaluate("window.__labRun")
            t_started = marks["started"] / 1000 - epoch0 if marks.get("started") else float("nan")
            t_script = (marks["done"] - marks["started"]) / 1000 if marks.get("done") and marks.get("started") else float("nan")
            for figures, value in ((healthy, t_health), (started, t_started), (script, t_script), (content, t_content), (rendered, t_render)):
                figures.append(value)
            print(f"run {run + 1}: server ready after {t_health:.2f} s, first script run started at {t_started:.2f} s and took {t_script:.2f} s, "
                  f"content on screen after {t_content:.2f} s, complete after {t_render:.2f} s"
                  f" (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)", flush=True)
            page.close()
            server.stop()
        browser.close()
    print(f"median of {args.runs} fresh servers: server ready {statistics.median(healthy):.2f} s, first script run started at "
          f"{statistics.median(started):.2f} s and took {statistics.median(script):.2f} s, content on screen {statistics.median(content):.2f} s, "
          f"complete {statistics.median(rendered):.2f} s from process start (goal: 4 s or less on a quiet machine); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
