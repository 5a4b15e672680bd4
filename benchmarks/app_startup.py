"""How long from `streamlit run app.py` to the first rendered page in headless Chromium.

    PYTHONPATH=. python benchmarks/app_startup.py [--runs 5]

Chromium is launched before the server starts, so its own start-up is not counted. Printed per
run, in seconds from the start of the server: when /_stcore/health answers; when the Overview's
content is on screen (its "A model is two files" heading, which follows the walkthrough, is
visible); and when the page is complete (the parameter chart drawn, the script done). Between the
last two, Chromium loads and runs plotly.js (app.py has it loaded while the server imports torch,
see its "first run" comment). Prints figures and the load average beside them; asserts nothing.
"""

import argparse
import os
import statistics
import time

from playwright.sync_api import sync_playwright

from tests.browser_harness import StreamlitServer, launch_browser, wait_idle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    healthy, content, rendered = [], [], []
    with sync_playwright() as p:
        browser = launch_browser(p)
        for run in range(args.runs):
            page = browser.new_page()
            server = StreamlitServer()
            t0 = time.perf_counter()
            server.start()
            t_health = time.perf_counter() - t0
            page.goto(server.url)
            page.get_by_role("heading", name="A model is two files").wait_for(timeout=60_000)
            t_content = time.perf_counter() - t0
            page.get_by_test_id("stPlotlyChart").first.locator("svg").first.wait_for(timeout=60_000)
            wait_idle(page)
            t_render = time.perf_counter() - t0
            healthy.append(t_health)
            content.append(t_content)
            rendered.append(t_render)
            print(f"run {run + 1}: healthy after {t_health:.2f} s, content on screen after {t_content:.2f} s, complete after {t_render:.2f} s"
                  f" (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)", flush=True)
            page.close()
            server.stop()
        browser.close()
    print(f"median: healthy {statistics.median(healthy):.2f} s, content on screen {statistics.median(content):.2f} s, "
          f"complete {statistics.median(rendered):.2f} s (goal: 4 s or less to the first rendered page); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
