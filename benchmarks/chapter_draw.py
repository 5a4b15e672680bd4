"""What each chapter costs one learner's browser: a visit's time from the click to the page idle, and what it draws.

    PYTHONPATH=. python benchmarks/chapter_draw.py [chapter titles ...]

One headless Chromium (1400x1000) on a fresh server. Each chapter is visited twice from the
Glossary; the second visit is printed (the server's caches are warm, so what is left is mostly the
browser drawing): seconds from the click in the sidebar to the script idle, the CPU seconds every
Chromium process spent from the click until 1.5 s after it (what the visit cost the browser, all its
threads; /proc), and the page's element count, plotly charts, expanders, tables and table cells. The server's own share of a visit is
`benchmarks/chapter_costs.py`'s "next session". Prints figures; asserts nothing.
"""

import os
import sys
import time

from playwright.sync_api import sync_playwright

from benchmarks.first_visits import chromium_seconds
from benchmarks.load_test import chapter_titles
from tests.browser_harness import StreamlitServer, launch_browser, wait_idle

SETTLE_S = 1.5
COUNTS = """() => ({elements: document.querySelectorAll('*').length,
  charts: document.querySelectorAll('[data-testid=stPlotlyChart]').length,
  expanders: document.querySelectorAll('[data-testid=stExpander]').length,
  tables: document.querySelectorAll('table').length, cells: document.querySelectorAll('td').length})"""


def main() -> None:
    wanted = sys.argv[1:]
    with sync_playwright() as p:
        browser = launch_browser(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        server = StreamlitServer().start()
        try:
            page.goto(server.url)
            wait_idle(page, 120_000)
            nav = page.get_by_test_id("stSidebarNav")
            for title in [t for t in chapter_titles() if not wanted or t in wanted]:
                for visit in (1, 2):
                    t0, cpu0 = time.perf_counter(), chromium_seconds()
                    nav.get_by_role("link", name=title).click()
                    wait_idle(page, 120_000)
                    seconds = time.perf_counter() - t0
                    if visit == 2:
                        time.sleep(SETTLE_S)  # plotly draws its charts after the run has ended
                        cpu = chromium_seconds() - cpu0
                        n = page.evaluate(COUNTS)
                        print(f"{title:26s} {seconds:5.2f} s  Chromium CPU {cpu:4.2f} s  {n['elements']:6,} elements, {n['charts']} charts, "
                              f"{n['expanders']:2} expanders, {n['tables']} tables, {n['cells']:5,} cells", flush=True)
                    nav.get_by_role("link", name="Glossary").click()
                    wait_idle(page, 120_000)
        finally:
            server.stop()
            browser.close()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
