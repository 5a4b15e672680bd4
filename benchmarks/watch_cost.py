"""What watching a training run costs: CPU of the browser, the server and the worker while the
Training chapter's live view polls, for the poll settings given in the environment.

Prints figures; asserts nothing. Opens the Training chapter in headless Chromium (1400 x 2400),
starts a 40 s run of the tiny preset, waits 6 s, then reads each process's CPU time from /proc
over the next 20 s (Linux only) and prints it as a share of one core, by kind: the browser's
renderer, its GPU process, its other processes, the Streamlit server, the training worker.
On a 2-core server the watcher's browser shares the cores with the job, so whatever it uses the
job lacks (`benchmarks/training_in_app.py` measures the steps per second that follow).

    PYTHONPATH=. python benchmarks/watch_cost.py                                   # the app's defaults
    PYTHONPATH=. python benchmarks/watch_cost.py LLM_LAB_STATUS_POLL_S=1.5 LLM_LAB_CHART_POLL_S=4
    PYTHONPATH=. python benchmarks/watch_cost.py LLM_LAB_STATUS_POLL_S=1000 LLM_LAB_CHART_POLL_S=1000   # no polling

`WATCH_HEIGHT=1000` sets the window's height; `WATCH_EXPECT=1` waits with Playwright's `expect(...)
.to_be_visible` instead of sleeping, which shows what a test harness's own waiting costs the browser.
"""

from __future__ import annotations

import glob
import os
import sys
import time

from tests.browser_harness import CHROMIUM, CHROMIUM_ARGS, StreamlitServer, go_to, main_area, set_number, wait_idle

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds_by_process() -> dict[tuple[str, str], float]:
    """(kind, /proc path) -> CPU seconds so far, for the processes this benchmark cares about."""
    out = {}
    for d in glob.glob("/proc/[0-9]*"):
        try:
            cmd = open(d + "/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
            fields = open(d + "/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if "chromium" in cmd:
            kind = "browser renderer" if "--type=renderer" in cmd else "browser GPU process" if "--type=gpu" in cmd else "browser, other"
        elif "streamlit" in cmd:
            kind = "Streamlit server"
        elif "multiprocessing" in cmd or "spawn_main" in cmd:
            kind = "training worker"
        else:
            continue
        out[(kind, d)] = (int(fields[11]) + int(fields[12])) / TICK
    return out


def main() -> None:
    from playwright.sync_api import expect, sync_playwright

    env = dict(arg.split("=", 1) for arg in sys.argv[1:])
    server = StreamlitServer(env=env).start(timeout=120)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": int(os.environ.get("WATCH_HEIGHT", 2400))})
            page.goto(server.url, timeout=180_000)
            wait_idle(page, 180_000)
            go_to(page, "Train a model")
            main = main_area(page)
            expect(main.get_by_text("measuring…", exact=True)).to_have_count(0, timeout=180_000)
            set_number(page, "Seconds of training", 40)
            wait_idle(page)
            main.get_by_role("button", name="Train", exact=True).click()
            time.sleep(6)
            before, t0 = cpu_seconds_by_process(), time.perf_counter()
            if os.environ.get("WATCH_EXPECT"):
                import re
                try:
                    expect(main.get_by_text(re.compile(r"^Trained [\d,]+ steps in"))).to_be_visible(timeout=20_000)
                except AssertionError:
                    pass
            else:
                time.sleep(20)
            after, seconds = cpu_seconds_by_process(), time.perf_counter() - t0
            shares: dict[str, float] = {}
            for key, cpu in after.items():
                shares[key[0]] = shares.get(key[0], 0.0) + cpu - before.get(key, cpu)
            settings = " ".join(sys.argv[1:]) or "the app's defaults"
            print(f"{settings}: " + ", ".join(f"{kind} {100 * cpu / seconds:.1f}%" for kind, cpu in sorted(shares.items()))
                  + f" of one core; load average {os.getloadavg()[0]:.1f}")
            main.get_by_role("button", name="Stop", exact=True).click()
            browser.close()
    finally:
        server.proc.terminate()


if __name__ == "__main__":
    main()
