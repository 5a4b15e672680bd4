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
  (training workers are separate processes and are not counted: they end with each run);
- the server's answer apart from the drawing: from the page's request (sent once the page has
  handled the click) to the server's "script finished" message, both read off the page's websocket (the server has sent the whole page; the browser may still
  be drawing it; a browser starved of CPU also reads its socket late); the server's own script runs
  (app.py logs each run's seconds with LLM_LAB_RUN_TIMES=1), a session's first run of each chapter
  apart; and where the machine's CPU went during the first round: the Streamlit server,
  the Chromium processes (every session's browser runs on these same cores; a class's browsers run
  on the learners' own machines), and the rest (training workers, this script).

    PYTHONPATH=. python benchmarks/load_test.py                       # 8 sessions, 5 minutes, a fresh server
    PYTHONPATH=. python benchmarks/load_test.py --sessions 4 --minutes 1
    PYTHONPATH=. python benchmarks/load_test.py --browser-nice 10     # the browsers yield the cores to the server
    PYTHONPATH=. python benchmarks/load_test.py --socket-walkers 5    # 5 of the 6 walkers draw nothing (below)

`--browser-nice` starts Chromium at a lower CPU priority. On one machine the eight browsers share the
server's cores (most of the CPU in the first round goes to them); a class's browsers run on the
learners' own machines. With them niced, the server's answers show what the server does when the
browsers do not take its CPU; the page-drawn times still include the browsers' drawing, now slower.
Where Linux shares the CPU by session first (autogroup: /proc/sys/kernel/sched_autogroup_enabled is 1),
this changes nothing: Playwright starts Chromium in a session of its own, and niceness only ranks
processes inside their session (llm_core/workers/process.py, `own_autogroup`, says more).

`--socket-walkers K` makes K of the walkers socket sessions instead of browsers: each speaks
Streamlit's own websocket protocol (`tests/browser_harness.SocketSession`: it asks for a chapter as a browser's click does
and waits for the server's "script finished"), so the server does for it exactly what it does for a
browser, but nothing on this machine draws the page. That is a class whose browsers run on the
learners' own machines; the walkers left in Chromium (and the trainers) show what a page costs
to draw on top, on this machine, under that load. The two kinds' figures are printed apart.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import statistics
import sys
import tempfile
import time

from benchmarks.first_visits import chromium_seconds, cpu_seconds
from tests.browser_harness import CHROMIUM, CHROMIUM_ARGS, ScriptRuns, SocketSession, StreamlitServer


def chapter_titles() -> list[str]:
    """Every page of the navigation, in the course's order (lab_ui/course.py reads assets/teaching/course.toml)."""
    from lab_ui import course

    return [c.title for c in course.chapters() if course.existing(c)]


CHAPTERS = chapter_titles()
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


def spread(seconds: list[float]) -> str:
    """p50, p95, max and the count over 10 s.

    >>> spread([1.0, 2.0, 3.0, 12.0])
    'p50 2.50 s, p95 12.00 s, max 12.00 s, 1 over 10 s'
    """
    r = sorted(seconds)
    return (f"p50 {statistics.median(r):.2f} s, p95 {r[min(len(r) - 1, int(0.95 * len(r)))]:.2f} s, max {r[-1]:.2f} s, "
            f"{sum(x > 10 for x in r)} over 10 s")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def machine_cpu_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (/proc/stat: everything but idle and iowait)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


class Figures:
    def __init__(self):
        self.responses: list[float] = []
        self.socket_responses: list[tuple[bool, float]] = []  # (first round?, seconds) of the socket walkers
        self.server_answers: list[tuple[bool, float]] = []  # (first round?, seconds to the server's "script finished")
        self.first_round_cpu: dict[str, float] = {}
        self.first_round_done: list[float] = []  # when each walker ended its first round (perf_counter)
        self.by_chapter: dict[str, list[float]] = {}
        self.first_round: list[tuple[str, float]] = []  # (chapter, seconds) of each walker's first round: first visits
        self.slow: list[tuple[float, str, str, float, float | None]] = []  # (started, who, chapter, seconds, server's answer) of responses over 5 s
        self.t_start = time.perf_counter()
        self.cdp: dict[str, object] = {}  # each browser session's DevTools session (its page's main-thread time)
        self.main_thread: dict[str, float] = {}  # seconds each page's main thread was busy in the first round
        self.on: dict[str, str] = {}  # what each walker is opening now (for the first round's timeline)
        self.timeline: list[tuple[float, float, float, float, list[str]]] = []  # (seconds from the start, busy, server, Chromium CPU-s, opening)
        self.exceptions: list[str] = []
        self.crosstalk: list[str] = []
        self.setup_retries: list[str] = []
        self.trainings: list[str] = []
        self.failures: list[str] = []

    def record(self, chapter: str, seconds: float, first_round: bool, server_seconds: float | None = None, who: str = "") -> None:
        self.responses.append(seconds)
        if seconds > 5:
            self.slow.append((time.perf_counter() - seconds - self.t_start, who, chapter, seconds, server_seconds))
        if server_seconds is not None:
            self.server_answers.append((first_round, server_seconds))
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


async def new_page(browser, height: int, who: str = "", figures: Figures | None = None):
    context = await browser.new_context(viewport={"width": 1300, "height": height})
    context.set_default_timeout(180_000)  # a loaded server answers slowly: that shows in the figures, not as a crash
    page = await context.new_page()
    if figures is not None:
        cdp = await context.new_cdp_session(page)
        await cdp.send("Performance.enable")  # TaskDuration: the seconds this page's main thread has been busy
        figures.cdp[who] = cdp
    return page


async def busy_seconds(cdp) -> float:
    metrics = (await cdp.send("Performance.getMetrics"))["metrics"]
    return next(m["value"] for m in metrics if m["name"] == "TaskDuration")


async def browse(browser, url: str, who: str, until: float, figures: Figures, seed: int) -> None:
    page = await new_page(browser, 900, who, figures)
    answers = ScriptRuns(page)  # the server's part of each response
    t0 = time.perf_counter()
    await page.goto(url, timeout=180_000)  # the Overview: the app's first page
    await idle(page, 180_000)
    figures.record(CHAPTERS[0], time.perf_counter() - t0, first_round=True, server_seconds=answers.answered_after(t0), who=who)
    figures.on.pop(who, None)
    i = 1
    while time.monotonic() < until:
        title = CHAPTERS[i % len(CHAPTERS)]
        first_round = i < len(CHAPTERS)
        i += 1
        t0 = time.perf_counter()
        figures.on[who] = title
        try:
            await page.get_by_test_id("stSidebarNavLink").filter(has_text=title).first.click(timeout=60_000)
            await idle(page)
            figures.record(title, time.perf_counter() - t0, first_round, answers.answered_after(t0), who=who)
        except Exception as exc:  # a timeout is a figure too
            figures.failures.append(f"{who} opening {title}: {type(exc).__name__}")
        figures.on.pop(who, None)
        if i == len(CHAPTERS):
            figures.first_round_done.append(time.perf_counter())
        await check_exceptions(page, who, figures)
        await page.wait_for_timeout(2000 + 500 * (seed % 3))


async def walk_socket(url: str, who: str, until: float, figures: Figures, seed: int) -> None:
    """`browse` without a browser: the same chapters at the same pace, through a SocketSession."""
    figures.on[who] = CHAPTERS[0]
    async with SocketSession(url) as session:
        i = 0
        while time.monotonic() < until:
            title = CHAPTERS[i % len(CHAPTERS)]
            first_round = i < len(CHAPTERS)
            i += 1
            try:
                seconds, exceptions = await session.open(None if title == CHAPTERS[0] and first_round else title)
                figures.socket_responses.append((first_round, seconds))
                figures.by_chapter.setdefault(title, []).append(seconds)
                figures.exceptions += [f"{who} on {title}: {e}" for e in exceptions]
            except Exception as exc:
                figures.failures.append(f"{who} opening {title}: {type(exc).__name__}")
            if i == len(CHAPTERS):
                figures.first_round_done.append(time.perf_counter())
            await asyncio.sleep(2 + 0.5 * (seed % 3))


async def train(browser, url: str, who: str, layers: int, until: float, figures: Figures) -> None:
    page = await new_page(browser, 2400, who, figures)
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
    server = StreamlitServer(env={"LLM_LAB_MAX_TRAININGS": "2", "LLM_LAB_RUN_TIMES": "1"}).start(timeout=120)
    memory = {}
    try:
        async with async_playwright() as p:
            executable = CHROMIUM
            if args.browser_nice:
                wrapper = tempfile.NamedTemporaryFile("w", suffix="-chromium", delete=False)
                wrapper.write(f'#!/bin/sh\nexec nice -n {args.browser_nice} {CHROMIUM} "$@"\n')
                wrapper.close()
                os.chmod(wrapper.name, 0o755)
                executable = wrapper.name
            browser = await p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            if executable != CHROMIUM:
                os.unlink(executable)  # Chromium is running: the wrapper has done its work
            t_start = time.monotonic()
            figures.t_start = time.perf_counter()
            until = t_start + args.minutes * 60
            n_train = min(args.trainers, args.sessions)
            tasks = [guarded(train(browser, server.url, f"trainer{k + 1}", 2 + k, until, figures), f"trainer{k + 1}", figures) for k in range(n_train)]
            walkers = args.sessions - n_train
            socket_walkers = min(args.socket_walkers, walkers)
            tasks += [guarded(browse(browser, server.url, f"browser{k + 1}", until, figures, seed=k), f"browser{k + 1}", figures)
                      for k in range(walkers - socket_walkers)]
            tasks += [guarded(walk_socket(server.url, f"socket{k + 1}", until, figures, seed=k), f"socket{k + 1}", figures)
                      for k in range(socket_walkers)]

            async def watch_memory():
                await asyncio.sleep(min(60, args.minutes * 60 / 2))
                memory["first_minute"] = rss_mb(server.proc.pid)
                while time.monotonic() < until:
                    await asyncio.sleep(5)
                memory["end"] = rss_mb(server.proc.pid)

            async def watch_first_round_cpu():
                """Where the CPU went from the start until every walker has ended its first round, in all and second by second."""
                walkers = args.sessions - n_train
                before = (machine_cpu_seconds(), cpu_seconds(server.proc.pid, children=False), chromium_seconds(), time.perf_counter())
                last = before
                while len(figures.first_round_done) < walkers and time.monotonic() < until:
                    await asyncio.sleep(1.0)
                    now = (machine_cpu_seconds(), cpu_seconds(server.proc.pid, children=False), chromium_seconds(), time.perf_counter())
                    busy, srv, chrome, _ = (a - b for a, b in zip(now, last))
                    figures.timeline.append((now[3] - figures.t_start, busy, srv, chrome, sorted(figures.on.values())))
                    last = now
                after = (machine_cpu_seconds(), cpu_seconds(server.proc.pid, children=False), chromium_seconds(), time.perf_counter())
                busy, srv, chrome, wall = (a - b for a, b in zip(after, before))
                for who, cdp in list(figures.cdp.items()):
                    with contextlib.suppress(Exception):  # a session that broke has no page to ask
                        figures.main_thread[who] = await busy_seconds(cdp)
                figures.first_round_cpu = {"wall": wall, "busy": busy, "server": srv, "chromium": chrome, "rest": busy - srv - chrome}

            await asyncio.gather(*tasks, watch_memory(), watch_first_round_cpu())
            await browser.close()
            wall = time.monotonic() - t_start
    finally:
        server.stop()
    r = sorted(figures.responses)
    print(f"{args.sessions} sessions ({min(args.trainers, args.sessions)} training) for {wall / 60:.1f} min on one server"
          f"{f', the browsers at nice {args.browser_nice}' if args.browser_nice else ''}"
          f"{f', {min(args.socket_walkers, args.sessions - args.trainers)} of the walkers socket sessions (nothing drawn)' if args.socket_walkers else ''}; "
          f"load average {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} CPUs")
    drawn = " drawn in Chromium" if args.socket_walkers else ""
    if r:
        print(f"page responses{drawn}: {len(r)}; {spread(r)} (goals: p95 at most 3 s, no page over 10 s)")
        first = [s for _, s in figures.first_round]
        if first:
            later = list(r)  # the responses after the first round: r without the first round's
            for s in first:
                later.remove(s)
            print(f"  first round (each chapter's first visits on this server, {len(first)} responses): {spread(first)}")
            if later:
                print(f"  after it ({len(later)} responses): {spread(later)}")
    sockets = [x for _, x in figures.socket_responses]
    if sockets:
        print(f"page responses to the socket sessions (the server's whole answer; the learner's own browser draws it): {len(sockets)}; {spread(sockets)}")
        for label, first in (("first round", True), ("after it", False)):
            part = [x for f, x in figures.socket_responses if f is first]
            if part:
                print(f"  {label} ({len(part)}): {spread(part)}")
    if r or sockets:
        for label, answers in (("all", [x for _, x in figures.server_answers]), ("first round", [x for f, x in figures.server_answers if f]),
                               ("after it", [x for f, x in figures.server_answers if not f])):
            if answers:
                print(f"  the server's answer apart from the drawing{drawn and ', browsers'}, {label} ({len(answers)}): {spread(answers)}")
        runs = re.findall(r"LLM_LAB_RUN page=(\S+) session=(\S+) seconds=([\d.]+)", server.log_path.read_text())
        seen, first_visits, later_runs = set(), [], []
        for page_path, session, seconds in runs:
            (later_runs if (page_path, session) in seen else first_visits).append(float(seconds))
            seen.add((page_path, session))
        for label, times in (("a session's first run of a chapter", first_visits), ("the other runs", later_runs)):
            if times:
                print(f"  the server's script runs, {label} ({len(times)}): {spread(times)}")
        cpu = figures.first_round_cpu
        if cpu:
            print(f"  CPU in the first round ({cpu['wall']:.0f} s, {os.cpu_count()} cores: {cpu['wall'] * os.cpu_count():.0f} CPU-seconds; "
                  f"{cpu['busy']:.0f} busy): Chromium {cpu['chromium']:.0f} s ({cpu['chromium'] / max(cpu['busy'], 1e-9):.0%}), "
                  f"the server {cpu['server']:.0f} s ({cpu['server'] / max(cpu['busy'], 1e-9):.0%}), "
                  f"the rest (training workers, this script) {cpu['rest']:.0f} s ({cpu['rest'] / max(cpu['busy'], 1e-9):.0%})")
        if figures.main_thread:
            print("  each page's main thread busy in the first round (Chromium's own count; its other threads come on top): " + ", ".join(
                f"{who} {seconds:.1f} s" for who, seconds in sorted(figures.main_thread.items())))
        if figures.timeline:
            print("  the first round, about 5 s at a time (CPU-seconds busy, of the seconds x cores there were: Chromium / the server / the rest; "
                  "how many walkers were opening each chapter, on average):")
            for k in range(0, len(figures.timeline), 5):
                part = figures.timeline[k:k + 5]
                busy, srv, chrome = (sum(x[i] for x in part) for i in (1, 2, 3))
                began = figures.timeline[k - 1][0] if k else part[0][0] - 1
                opening = {}
                for x in part:
                    for title in x[4]:
                        opening[title] = opening.get(title, 0) + 1
                print(f"    +{began:.0f}-{part[-1][0]:.0f} s: {busy:.1f} of {(part[-1][0] - began) * os.cpu_count():.1f} busy: {chrome:.1f} / {srv:.1f} / {busy - srv - chrome:.1f}; "
                      + (", ".join(f"{t} {n / len(part):.1f}" for t, n in sorted(opening.items(), key=lambda kv: -kv[1])) or "nothing"))
        if figures.slow:
            print("  responses over 5 s (started at, from the test's start; the server's answer in brackets): " + "; ".join(
                f"+{t:.0f} s {who} {chapter} {seconds:.1f} s ({'?' if server is None else f'{server:.1f} s'})" for t, who, chapter, seconds, server in sorted(figures.slow)))
        slowest = sorted(figures.by_chapter.items(), key=lambda kv: -max(kv[1]))
        print(f"  per chapter (max / median, s{'; drawn and socket walkers together' if sockets else ''}): " + "; ".join(f"{c} {max(v):.1f} / {statistics.median(v):.1f}" for c, v in slowest))
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
    parser.add_argument("--socket-walkers", type=int, default=0, metavar="K",
                        help="K of the walkers are socket sessions that draw nothing (their browsers would be on the learners' machines)")
    parser.add_argument("--browser-nice", type=int, default=0, choices=range(0, 20), metavar="0-19",
                        help="start Chromium at this niceness (a class's browsers run on the learners' machines)")
    args = parser.parse_args(argv)
    if not 1 <= args.sessions <= 16 or not 0.5 <= args.minutes <= 30 or args.socket_walkers < 0:
        print("bounded on purpose: 1-16 sessions, 0.5-30 minutes, no fewer than 0 socket walkers", file=sys.stderr)
        return 2
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
