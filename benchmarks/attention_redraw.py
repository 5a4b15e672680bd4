"""How long the server takes to redraw the Attention chapter after the user picks another layer or head.

Goal (issue 4): under 150 ms of server time. Prints three measurements:
  1. the page's pieces on their own: the trace (once per prompt, then cached) and each figure,
     built and serialised to JSON the way `st.plotly_chart` does;
  2. AppTest: server-side script time of a full rerun after a layer/head change (an upper
     bound: AppTest reruns the whole script, a real server only the fragment that holds the
     heads; the bytecode cache is shared between runs as in a real server);
  3. with --browser: a real `streamlit run app.py` driven by headless Chromium; the server's
     own script-run times (fragment reruns) and, for context, the click-to-idle time in the browser.

    PYTHONPATH=.:tests python benchmarks/attention_redraw.py [--runs 10] [--browser]   # from the repository root
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROMPTS = {
    "default prompt (51 chars)": "ROMEO: O, she doth teach the torches to burn bright",
    "two lines (95 chars, the default until 6 Dec 2026)": "ROMEO: O, she doth teach the torches to burn bright!\nIt seems she hangs upon the cheek of night",
    "full window (128 chars)": ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n" * 3)[:128],
}


def summary(times_s: list[float]) -> str:
    ms = sorted(t * 1000 for t in times_s)
    p90 = ms[min(len(ms) - 1, int(round(0.9 * (len(ms) - 1))))]
    return f"median {statistics.median(ms):6.1f} ms   p90 {p90:6.1f} ms   max {ms[-1]:6.1f} ms   (n={len(ms)})"


def best_of(fn, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def pieces(runs: int) -> None:
    import numpy as np
    import plotly.io as pio
    import plotly.tools

    from lab_ui.attention_figures import (
        contributions_figure,
        grid_figure,
        head_figure,
        lens_figure,
        residual_figure,
        token_strip_html,
    )
    from llm_core.interpret.inspect_model import head_role, inspect_ids
    from llm_core.model.checkpoint import DEFAULT_MODEL, MODELS_DIR, load_checkpoint

    loaded = load_checkpoint(MODELS_DIR / f"{DEFAULT_MODEL}.safetensors", device="cpu")
    model, tok = loaded.model, loaded.tokenizer

    def shipped(fig) -> str:  # what st.plotly_chart does with a figure
        return pio.to_json(plotly.tools.return_figure_from_figure_or_data(fig, validate_figure=True), validate=False)

    print("1. The page's pieces (bundled model)")
    for label, text in PROMPTS.items():
        ids = tok.encode(text)
        view = inspect_ids(model, tok, ids)
        T = len(ids)
        titles = [head_role(s, "character") for s in view.heads]
        top = np.array([[tok.token_text(int(i)) for i in row] for row in view.lens_top_ids], dtype=object)
        print(f"  {label}")
        print(f"    trace + measurements (once per prompt)  {summary(best_of(lambda ids=ids: inspect_ids(model, tok, ids), runs))}")
        redraw = {
            "head heatmap": lambda view=view, T=T: shipped(head_figure(view, 1, 2, "character")),
            "all-heads grid": lambda view=view, titles=titles: shipped(grid_figure(view, 1, 2, titles)),
            "token strip": lambda view=view, T=T: token_strip_html(view, view.attention_from(T - 1, 1, 2), T - 1),
            "residual + contributions": lambda view=view, T=T: (shipped(residual_figure(view, T - 1, "character")), shipped(contributions_figure(view, T - 1, "character"))),
        }
        total = []
        for name, fn in redraw.items():
            times = best_of(fn, runs)
            total.append(statistics.median(times))
            print(f"    {name:<40}{summary(times)}")
        lens = best_of(lambda view=view, T=T, top=top: shipped(lens_figure(view, max(0, T - 40), T - 1, top, "character")), runs)
        print(f"    {'logit lens (not redrawn by layer/head)':<40}{summary(lens)}")
        print(f"    sum of medians, what a layer/head change redraws: {sum(total) * 1000:.1f} ms")


def apptest(runs: int) -> None:
    import streamlit.testing.v1.app_test as app_test_module
    import streamlit.testing.v1.local_script_runner as local_runner_module
    from streamlit.runtime.scriptrunner import script_runner
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1 import AppTest

    shared = ScriptCache()  # a real server compiles each script once; AppTest would recompile every run
    app_test_module.ScriptCache = lambda: shared
    local_runner_module.ScriptCache = lambda: shared
    original = script_runner.ScriptRunner._run_script
    times: list[float] = []

    def timed(self, rerun_data):
        start = time.perf_counter()
        try:
            return original(self, rerun_data)
        finally:
            times.append(time.perf_counter() - start)

    script_runner.ScriptRunner._run_script = timed
    print("2. AppTest: server-side time of a FULL rerun after a layer/head change (upper bound)")
    for label, text in PROMPTS.items():
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
        at.switch_page("pages/attention.py").run()
        at.text_area(key="attention_prompt").set_value(text).run()
        assert not at.exception, at.exception
        times.clear()
        for i in range(runs):
            at.radio(key="attention_layer" if i % 2 else "attention_head").set_value((i // 2 + 1) % 4).run()
        print(f"  {label:<40}{summary(times)}")
    script_runner.ScriptRunner._run_script = original


LAUNCHER = """
import os, sys, time
from streamlit.runtime.scriptrunner import script_runner
original = script_runner.ScriptRunner._run_script
def timed(self, rerun_data):
    start = time.perf_counter()
    try:
        return original(self, rerun_data)
    finally:
        with open(os.environ["REDRAW_TIMES"], "a") as f:
            f.write(f"{time.perf_counter() - start:.6f} {int(bool(rerun_data.fragment_id_queue))}\\n")
script_runner.ScriptRunner._run_script = timed
from streamlit.web.cli import main
sys.argv = ["streamlit"] + sys.argv[1:]
main()
"""


def browser(runs: int) -> None:
    import urllib.request

    from browser_harness import (
        free_port,
        launch_browser,
        main_area,
        open_page,
        wait_idle,
    )
    from playwright.sync_api import sync_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "times.txt"
        log.touch()
        server = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, "run", "app.py", "--server.headless=true", "--server.address=127.0.0.1",
             f"--server.port={port}", "--browser.gatherUsageStats=false", "--server.fileWatcherType=none"],
            cwd=ROOT, env={**os.environ, "REDRAW_TIMES": str(log)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(300):
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                        if r.read().strip() == b"ok":
                            break
                except OSError:
                    time.sleep(0.1)
            print("3. Real server + headless Chromium: server time of each redraw after a layer/head click")
            with sync_playwright() as p:
                b = launch_browser(p)
                page = b.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                open_page(page, url)  # the entry page first, so st.navigation owns the URLs
                for label, text in PROMPTS.items():
                    open_page(page, url, "attention")
                    main = main_area(page)
                    box = main.get_by_label("Prompt")
                    box.fill(text)
                    box.press("Control+Enter")
                    wait_idle(page)
                    log.write_text("")
                    clicks = []
                    for i in range(runs):
                        group = "Layer" if i % 2 else "Head"
                        choice = (i // 2 + 1) % 4 + 1  # never the value already chosen: every click redraws
                        start = time.perf_counter()
                        main.get_by_role("radiogroup", name=group).get_by_text(str(choice), exact=True).click()
                        wait_idle(page)
                        clicks.append(time.perf_counter() - start)
                    rows = [line.split() for line in log.read_text().splitlines()]
                    fragment = [float(t) for t, is_fragment in rows if is_fragment == "1"]
                    full = [float(t) for t, is_fragment in rows if is_fragment == "0"]
                    print(f"  {label}")
                    if fragment:
                        print(f"    server, fragment reruns               {summary(fragment)}")
                    if full:
                        print(f"    server, full reruns                   {summary(full)}")
                    print(f"    browser, click until idle (context)   {summary(clicks)}")
                b.close()
        finally:
            server.terminate()
            server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--browser", action="store_true", help="also measure a real server driven by headless Chromium")
    args = parser.parse_args()
    print(json.dumps({"cpu_count": os.cpu_count(), "load_average": os.getloadavg()}))
    pieces(args.runs)
    apptest(args.runs)
    if args.browser:
        browser(args.runs)


if __name__ == "__main__":
    main()
