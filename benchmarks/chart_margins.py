"""Measure the margins each chart's labels need, and remake lab_ui/chart_margins.py's table.

Walks every chapter in headless Chromium (1300 x 900, as benchmarks/load_test.py) on a fresh server,
then trains the nano preset for a few seconds on the Training chapter for its two charts, and reads
each plotly chart's margins: those its figure asked for and those plotly drew it with. Drawn wider
than asked means plotly drew the chart twice (automargin; lab_ui/chart_margins.py says why).

    PYTHONPATH=.:tests python benchmarks/chart_margins.py           # print: which charts are drawn twice
    PYTHONPATH=.:tests python benchmarks/chart_margins.py --write   # remake the table, until none is

With --write it starts from an empty table and measures again on a fresh server after each change
until no chart is drawn twice (two or three walks), giving each pushed side SLACK pixels more than
measured, and PLOTLY_PAD more where plotly will pad it. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from tests.browser_harness import StreamlitServer, launch_browser, main_area, open_page, plotly_margins, set_number, wait_idle

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "lab_ui" / "chart_margins.py"
SLACK = 2  # px beyond what was measured: a label a pixel wider elsewhere (fonts) still fits
TRAIN_SECONDS = 3
PLOTLY_PAD = 12  # plotly's automargin pad (plots.autoMargin), applied where every margin asked is at least this


def walk(browser) -> dict[str, tuple[list[int], list[int]]]:
    """chart key -> (asked, drawn), from every chapter's first view and a short nano run."""
    from lab_ui import course

    found = {}
    server = StreamlitServer().start(timeout=120)
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    try:
        page = context.new_page()
        open_page(page, server.url, timeout=120_000)
        chapters = [c.title for c in course.chapters() if course.existing(c)][1:]
        for visit, chapter in enumerate(chapters + ["Train a model"]):  # the run last: its model becomes every chapter's
            page.get_by_test_id("stSidebarNavLink").filter(has_text=chapter).first.click()
            wait_idle(page, 120_000)
            if visit == len(chapters):
                main = main_area(page)
                main.get_by_role("button", name="nano", exact=True).click()
                wait_idle(page)
                set_number(page, "Seconds of training", TRAIN_SECONDS)
                main.get_by_role("button", name="Train", exact=True).click()
                expect(main.get_by_text(re.compile("is now your current model"))).to_be_visible(timeout=300_000)
                wait_idle(page, 120_000)
            time.sleep(1)
            for chart in plotly_margins(page):
                if chart["key"] != "lab_warm_up_chart":
                    found[chart["key"]] = (chart["asked"], chart["drawn"])
    finally:
        context.close()
        server.stop()
    return found


def write(table: dict[str, tuple[int, int, int, int]]) -> None:
    text = TABLE.read_text()
    lines = "".join(f'    "{key}": {tuple(margins)},\n' for key, margins in sorted(table.items()))
    new = re.sub(r"(MARGINS: dict\[str, tuple\[int, int, int, int\]\] = \{\n).*?(^\}\n)", lambda m: m.group(1) + lines + m.group(2),
                 text, count=1, flags=re.S | re.M)
    TABLE.write_text(new)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="remake lab_ui/chart_margins.py's table")
    args = parser.parse_args()
    with sync_playwright() as p:
        browser = launch_browser(p)
        table: dict[str, tuple[int, int, int, int]] = {}
        if args.write:
            write(table)
        for attempt in range(1, 6 if args.write else 2):
            t0 = time.perf_counter()
            found = walk(browser)
            twice = {key: (asked, drawn) for key, (asked, drawn) in found.items() if any(d > a for a, d in zip(asked, drawn))}
            print(f"walk {attempt} ({time.perf_counter() - t0:.0f} s): {len(found)} charts, {len(twice)} drawn twice")
            for key, (asked, drawn) in sorted(found.items()):
                print(f"    {key:28s} asked {asked}  drawn {drawn}{'  (twice)' if key in twice else ''}")
            if not args.write or not twice:
                break
            for key, (asked, drawn) in twice.items():
                # Plotly pads each pushed side by 12 px once every side asked is 12 or more: ask for that
                # at once, or the next walk finds the chart drawn twice again, with more room than it needed.
                wider = [d if d > a else a for a, d in zip(asked, drawn)]
                pad = min(PLOTLY_PAD, *wider) - min(PLOTLY_PAD, *asked)
                table[key] = tuple(w + pad + SLACK if d > a else a for a, d, w in zip(asked, drawn, wider))
            write(table)
            sys.modules.pop("lab_ui.chart_margins", None)
        if args.write:
            print(f"wrote {len(table)} charts' margins to {TABLE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
