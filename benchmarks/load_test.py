"""Load test: one LLM Lab server, several browser sessions at once, for a few minutes (loopback only).

Prints figures; asserts nothing. By default 8 sessions for 5 minutes on a fresh server: 2 of them
train (nano preset, 40 s runs, one after another, each session with its own model size so that
the names tell the runs apart) and 6 walk through EVERY chapter in the course's order, together
(as a class following the teacher: each chapter's first visit on the server is made by all six
at about the same time), a click every few seconds, round after round. Each session is its own
headless-Chromium context (its own Streamlit session). Measured:

- page response: from a click in the sidebar to the chapter drawn and the script idle; p50/p95/max,
  the slowest chapters, and the first round apart (the chapters' first visits on this server);
- exceptions: any `stException` element seen on any page, and any training that failed;
- cross-talk: a training session must only ever see its own models and its own run, made with the
  sizes it set (read back from the sliders before its first run);
- lost presses: under load a preset press can be lost when another rerun of the same session (the
  speed measurement finishing, say) carries the sliders' old values back from the browser; the
  trainer presses again, as a person would, and the count of repeats is printed;
- server memory: the Streamlit process's resident memory after the first minute and at the end
  (training workers are separate processes and are not counted: they end with each run).

    PYTHONPATH=. python benchmarks/load_test.py                       # 8 sessions, 5 minutes, a fresh server
    PYTHONPATH=. python benchmarks/load_test.py --sessions 4 --minutes 1
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import time

from tests.browser_harness import CHROMIUM, CHROMIUM_ARGS, StreamlitServer


def chapter_titles() -> list[str]:
    """Every page of the navigation, in the course's order (lab_ui/course.py reads assets/teaching/course.toml)."""
    from lab_ui import course

    return [c.title for c in course.chapters() if course.existing(c)]


CHAPTERS = chapter_titles()
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Figures:
    def __init__(self):
        self.responses: list[float] = []
        self.by_chapter: dict[str, list[float]] = {}
        self.first_round: list[tuple[str, float]] = []  # (chapter, seconds) of each walker's first round: first visits
        self.exceptions: list[str] = []
        self.crosstalk: list[str] = []
        self.setup_retries: list[str] = []
        self.trainings: list[str] = []
        self.failures: list[str] = []

    def record(self, chapter: str, seconds: float, first_round: bool) -> None:
        self.responses.append(seconds)
        self.by_chapter.setdefault(chapter, []).append(seconds)
        if first_round:
            self.first_round.append((chapter, seconds))


async def idle(page, timeout=120_000):
    await page.wait_for_selector("[data-testid='stAppViewContainer']", timeout=timeout)
    await page.wait_for_timeout(150)
    await page.wait_for_selector(IDLE, timeout=timeout)


async def check_exceptions(page, who: str, figures: Figures) -> None:
    for e in await page.get_by_test_id("stException").all():
        figures.exceptions.append(f"{who}: {(await e.inner_text())[:200]}")


async def guarded(coro, who: str, figures: Figures) -> None:
    """A session that breaks is a failure to count, not the end of the test."""
    try:
        await coro
    except Exception as exc:
        figures.failures.append(f"{who} stopped: {type(exc).__name__}: {str(exc).splitlines()[0][:150]}")


async def new_page(browser, height: int):
    context = await browser.new_context(viewport={"width": 1300, "height": height})
    context.set_default_timeout(180_000)  # a loaded server answers slowly: that shows in the figures, not as a crash
    return await context.new_page()


async def browse(browser, url: str, who: str, until: float, figures: Figures, seed: int) -> None:
    page = await new_page(browser, 900)
    t0 = time.perf_counter()
    await page.goto(url, timeout=180_000)  # the Overview: the app's first page
    await idle(page, 180_000)
    figures.record(CHAPTERS[0], time.perf_counter() - t0, first_round=True)
    i = 1
    while time.monotonic() < until:
        title = CHAPTERS[i % len(CHAPTERS)]
        first_round = i < len(CHAPTERS)
        i += 1
        t0 = time.perf_counter()
        try:
            await page.get_by_test_id("stSidebarNavLink").filter(has_text=title).first.click(timeout=60_000)
            await idle(page)
            figures.record(title, time.perf_counter() - t0, first_round)
        except Exception as exc:  # a timeout is a figure too
            figures.failures.append(f"{who} opening {title}: {type(exc).__name__}")
        await check_exceptions(page, who, figures)
        await page.wait_for_timeout(2000 + 500 * (seed % 3))


async def train(browser, url: str, who: str, layers: int, until: float, figures: Figures) -> None:
    page = await new_page(browser, 2400)
    await page.goto(url, timeout=180_000)
    await idle(page, 180_000)
    await page.get_by_test_id("stSidebarNavLink").filter(has_text="Train a model").click()
    await idle(page)
    main = page.get_by_test_id("stMain")
    thumb = main.get_by_test_id("stSlider").filter(has_text="Layers").get_by_role("slider")
    widths = main.get_by_test_id("stSlider").filter(has_text="Embedding width").get_by_role("slider")

    async def model_is(n_layer: int) -> bool:
        """Read the sliders themselves (their aria values), and give the page up to 20 s to show a change."""
        for _ in range(40):
            if await thumb.get_attribute("aria-valuetext") == str(n_layer) and await widths.get_attribute("aria-valuetext") == "32":
                return True
            await page.wait_for_timeout(500)
        return False

    presses = 0
    while presses < 5 and not await model_is(2):  # under load a press can be lost (see the module doc): press again
        await main.get_by_role("button", name="nano", exact=True).click()
        presses += 1
        await idle(page)
    if presses > 1:
        figures.setup_retries.append(f"{who}: the nano preset took {presses} presses")
    for _ in range(layers - 2):
        await thumb.focus()
        await thumb.press("ArrowRight")
        await idle(page)
    box = main.get_by_role("spinbutton", name="Seconds of training")
    await box.fill("40")
    await box.press("Enter")
    await idle(page)
    mine = f"{layers}x2x32 on tinyshakespeare"
    if not await model_is(layers):
        figures.failures.append(f"{who}: could not set up its model (Layers shows {await thumb.get_attribute('aria-valuetext')}); its runs are not checked for their size")
        mine = ""
    own: set[str] = set()
    while time.monotonic() < until - 60:
        await main.get_by_role("button", name="Train", exact=True).click()
        await idle(page)
        done = main.get_by_text(re.compile("is now your current model|Training failed|did not learn"))
        try:
            # First the run must be going (Stop enabled): the previous run's message stays until then, and
            # reading it as this run's end counted one run twice and missed the next (a false "cross-talk").
            from playwright.async_api import expect

            stop = main.get_by_role("button", name="Stop", exact=True)
            await expect(stop).to_be_enabled(timeout=600_000)
            await expect(stop).to_be_disabled(timeout=600_000)  # and then over
            await done.first.wait_for(timeout=600_000)
        except Exception as exc:
            figures.failures.append(f"{who}: training did not end ({type(exc).__name__})")
            return
        text = await done.first.inner_text()
        figures.trainings.append(f"{who}: {text[:90]}")
        named = re.match(r"(.+? · [\d,]+ steps)", text)
        if named:
            own.add(named.group(1))
        if "Training failed" in text:
            figures.failures.append(f"{who}: {text[:200]}")
        elif mine and mine not in text:
            figures.crosstalk.append(f"{who} expected {mine!r}, saw {text[:120]!r}")
        await idle(page)  # the run that registers the new model redraws the picker under a new key: read the settled page
        picker = page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").filter(has_text="Model used by every chapter").last
        if await picker.count():
            await picker.click()
            options = [await o.inner_text() for o in await page.get_by_role("option").all()]
            await page.keyboard.press("Escape")
            strangers = [o for o in options if "on tinyshakespeare" in o and not any(o.startswith(n) for n in own)]
            if strangers:
                figures.crosstalk.append(f"{who} sees someone else's models: {strangers}")
        await check_exceptions(page, who, figures)


async def run(args) -> int:
    from playwright.async_api import async_playwright

    figures = Figures()
    server = StreamlitServer(env={"LLM_LAB_MAX_TRAININGS": "2"}).start(timeout=120)
    memory = {}
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            t_start = time.monotonic()
            until = t_start + args.minutes * 60
            n_train = min(args.trainers, args.sessions)
            tasks = [guarded(train(browser, server.url, f"trainer{k + 1}", 2 + k, until, figures), f"trainer{k + 1}", figures) for k in range(n_train)]
            tasks += [guarded(browse(browser, server.url, f"browser{k + 1}", until, figures, seed=k), f"browser{k + 1}", figures)
                      for k in range(args.sessions - n_train)]

            async def watch_memory():
                await asyncio.sleep(min(60, args.minutes * 60 / 2))
                memory["first_minute"] = rss_mb(server.proc.pid)
                while time.monotonic() < until:
                    await asyncio.sleep(5)
                memory["end"] = rss_mb(server.proc.pid)

            await asyncio.gather(*tasks, watch_memory())
            await browser.close()
            wall = time.monotonic() - t_start
    finally:
        server.stop()
    r = sorted(figures.responses)
    print(f"{args.sessions} sessions ({min(args.trainers, args.sessions)} training) for {wall / 60:.1f} min on one server; "
          f"load average {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} CPUs")
    if r:
        p95 = r[min(len(r) - 1, int(0.95 * len(r)))]
        print(f"page responses: {len(r)}; p50 {statistics.median(r):.2f} s, p95 {p95:.2f} s, max {r[-1]:.2f} s "
              f"(goals: p95 at most 3 s, no page over 10 s; {sum(x > 10 for x in r)} over 10 s)")
        first = [s for _, s in figures.first_round]
        if first:
            later = sorted(r)  # the responses after the first round: r without the first round's
            for s in first:
                later.remove(s)
            print(f"  first round (each chapter's first visits on this server, {len(first)} responses): "
                  f"p50 {statistics.median(first):.2f} s, max {max(first):.2f} s, {sum(x > 10 for x in first)} over 10 s")
            if later:
                print(f"  after it ({len(later)} responses): p50 {statistics.median(later):.2f} s, "
                      f"p95 {later[min(len(later) - 1, int(0.95 * len(later)))]:.2f} s, max {later[-1]:.2f} s, {sum(x > 10 for x in later)} over 10 s")
        slowest = sorted(figures.by_chapter.items(), key=lambda kv: -max(kv[1]))
        print("  per chapter (max / median, s): " + "; ".join(f"{c} {max(v):.1f} / {statistics.median(v):.1f}" for c, v in slowest))
    print(f"trainings finished: {len(figures.trainings)}")
    for t in figures.trainings:
        print("   ", t)
    print(f"exceptions on pages: {len(figures.exceptions)}", *figures.exceptions[:5], sep="\n    ")
    print(f"failures (timeouts, failed trainings): {len(figures.failures)}", *figures.failures[:5], sep="\n    ")
    print(f"cross-talk: {len(figures.crosstalk)}", *figures.crosstalk[:5], sep="\n    ")
    print(f"preset presses that had to be repeated: {len(figures.setup_retries)}", *figures.setup_retries[:5], sep="\n    ")
    if memory.get("first_minute"):
        growth = 100 * (memory["end"] / memory["first_minute"] - 1)
        print(f"server memory: {memory['first_minute']:.0f} MB after the first minute, {memory['end']:.0f} MB at the end ({growth:+.1f}%; goal: at most +20%)")
    print(f"chapters walked, in order: {', '.join(CHAPTERS)}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--trainers", type=int, default=2)
    parser.add_argument("--minutes", type=float, default=5.0)
    args = parser.parse_args(argv)
    if not 1 <= args.sessions <= 16 or not 0.5 <= args.minutes <= 30:
        print("bounded on purpose: 1-16 sessions, 0.5-30 minutes", file=sys.stderr)
        return 2
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
