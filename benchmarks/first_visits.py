"""Several browser sessions opening the app's first page at the same moment: where the seconds go.

    PYTHONPATH=. python benchmarks/first_visits.py [--sessions 8] [--app benchmarks/startup_floor_app.py]

Prints figures; asserts nothing. One headless Chromium, `--sessions` contexts (each its own
Streamlit session) open the first page together, twice: on a fresh server, then again on the
warm server; then one context alone, three times. For each round: every context's seconds from
navigation to the script idle, and the CPU seconds the Streamlit server and all Chromium processes
spent in the meantime (read from /proc). With the load test's eight sessions on a 2-core machine,
the browsers' CPU is what separates a class's first round from a lone visit; `--app` runs
Streamlit's floor (a page of text) for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from tests.browser_harness import CHROMIUM, CHROMIUM_ARGS, StreamlitServer

IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


def cpu_seconds(pid: int, children: bool = True) -> float:
    """User and system CPU of a process, and of its waited-for children unless `children` is False
    (a server's training workers, reaped, would count as the server's)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15 if children else 13]) / os.sysconf("SC_CLK_TCK")


def chromium_seconds() -> float:
    """CPU seconds of the Chromium processes this process started (through Playwright's driver): not
    those of another program's browsers on the machine (a test run beside a benchmark)."""
    children: dict[int, list[int]] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                children.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(pid))
        except OSError:  # it ended meanwhile
            pass
    total, below = 0.0, list(children.get(os.getpid(), []))
    while below:
        pid = below.pop()
        below += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/comm") as f:
                if "chrom" in f.read():
                    total += cpu_seconds(pid)
        except OSError:
            pass
    return total


async def visit(browser, url: str, seconds: list[float]):
    context = await browser.new_context(viewport={"width": 1300, "height": 900})
    page = await context.new_page()
    t0 = time.perf_counter()
    await page.goto(url, timeout=180_000)
    await page.wait_for_selector("[data-testid='stAppViewContainer']", timeout=180_000)
    await page.wait_for_timeout(150)
    await page.wait_for_selector(IDLE, timeout=180_000)
    seconds.append(time.perf_counter() - t0)
    return context


async def run(args) -> None:
    from playwright.async_api import async_playwright

    server = StreamlitServer(app=args.app).start(timeout=120)
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            rounds = [("fresh server", args.sessions), ("warm server", args.sessions)] + [("one alone", 1)] * 3
            for label, n in rounds:
                seconds: list[float] = []
                server_before, browser_before = cpu_seconds(server.proc.pid), chromium_seconds()
                contexts = await asyncio.gather(*[visit(browser, server.url, seconds) for _ in range(n)])
                print(f"{label}, {n} at once: {', '.join(f'{s:.1f}' for s in sorted(seconds))} s; CPU: server "
                      f"{cpu_seconds(server.proc.pid) - server_before:.1f} s, Chromium {chromium_seconds() - browser_before:.1f} s", flush=True)
                for context in contexts:
                    await context.close()
            await browser.close()
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--app", default="app.py", help="the Streamlit script (benchmarks/startup_floor_app.py: Streamlit's floor)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; load {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {args.app}")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
