"""Training speed inside the app versus the command line, and what the default settings reach.

Prints figures; asserts nothing. Three runs of the tiny preset on Tiny Shakespeare, one after the
other, each for the same training-time budget:

1. the CLI: `python -m llm_core.train --preset tiny --short-windows 0 --time SECONDS` in its own process
   (full windows throughout, as the page trains, so that the rates compare like with like);
2. the job object alone: `TrainingRun` + `Job` (a worker process, as the page uses), no Streamlit;
3. the app: a real `streamlit run app.py`, driven by headless Chromium: open the Training chapter,
   keep the default settings (tiny, 60 s unless --seconds says otherwise), press Train, let the live
   view poll until the run ends, then read the page's summary. Then a second run is stopped after a
   few seconds to measure how long Stop takes.

Steps per second are optimizer steps per second of *training time* (evaluations and samples
excluded, as both the CLI and the page report it); wall-clock figures are printed too. The machine
load is printed with each run: on a shared machine the figures move a lot, so `--repeat N` runs
the whole series N times (each app run right after its own CLI run) and prints the median of the
paired ratios. During the app runs the CPU time of each process (the Streamlit server, the
training worker, the browser's renderer and its other processes, this script and Playwright's
driver) is read from /proc and printed as a share of one core: that is where a watched run's
speed goes on a 2-core machine.

    PYTHONPATH=. python benchmarks/training_in_app.py              # 60 s runs: the default settings' val loss too
    PYTHONPATH=. python benchmarks/training_in_app.py --seconds 30 --repeat 3 --skip job app-away
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} CPUs"


class CpuTimes:
    """CPU seconds used by each process under this one (server, worker, browser), sampled from /proc
    every half second so processes that end (the worker) are counted too. Linux only; elsewhere empty."""

    TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def __init__(self):
        self.first: dict[int, float] = {}
        self.last: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.t0 = self.t1 = None

    @staticmethod
    def _table() -> dict[int, tuple[int, float, str]]:
        table = {}
        for name in os.listdir("/proc") if os.path.isdir("/proc") else []:
            if not name.isdigit():
                continue
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
                cmd = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            table[int(name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / CpuTimes.TICK, cmd)
        return table

    def sample(self) -> None:
        table = self._table()
        children: dict[int, list[int]] = {}
        for pid, (ppid, _, _) in table.items():
            children.setdefault(ppid, []).append(pid)
        todo = [os.getpid()]
        while todo:
            pid = todo.pop()
            todo += children.get(pid, [])
            if pid in table:
                _, cpu, cmd = table[pid]
                self.first.setdefault(pid, cpu)
                self.last[pid] = (cmd or self.last.get(pid, ("", 0.0))[0], cpu)  # an ended process (a zombie) has no command line

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            self.sample()

    def start(self) -> CpuTimes:
        self.t0 = time.perf_counter()
        self.sample()
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        """Share of one core used by each kind of process while this ran."""
        self._stop.set()
        self._thread.join()
        self.sample()
        wall = time.perf_counter() - self.t0
        kinds: dict[str, float] = {}
        for pid, (cmd, cpu) in self.last.items():
            if "spawn_main" in cmd:
                kind = "training worker"
            elif "streamlit" in cmd:
                kind = "Streamlit server"
            elif "--type=renderer" in cmd:
                kind = "browser renderer"
            elif "chromium" in cmd:
                kind = "browser, other"
            else:
                kind = "this script + Playwright"
            kinds[kind] = kinds.get(kind, 0.0) + (cpu - self.first[pid]) / wall
        return kinds


def cli_run(seconds: float, threads: int | None = None) -> dict:
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "llm_core.train", "--preset", "tiny", "--short-windows", "0", "--time", str(seconds), *(["--threads", str(threads)] if threads else [])],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    wall = time.perf_counter() - t0
    steps = [int(m.group(1)) for m in re.finditer(r"^step\s+(\d+) \|", out, re.M)]
    vals = [float(v) for v in re.findall(r"val (\d+\.\d+)", out)]
    done = re.search(r"done: .*; ([\d.]+)s training, ([\d.]+)s evaluating", out)
    train_s, eval_s = float(done.group(1)), float(done.group(2))
    return dict(steps=steps[-1], train_s=train_s, eval_s=eval_s, wall_s=wall, val_loss=vals[-1] if vals else None)


def job_run(seconds: float) -> dict:
    """The page's job without the page: a worker process trains, this process relays its records."""
    return _job_run(seconds)


def _job_run(seconds: float) -> dict:
    from llm_core.model.config import TrainConfig, model_preset, train_preset
    from llm_core.model.device import pick_device
    from llm_core.text.data import load_corpus
    from llm_core.training.training_run import TrainingRun, prepare_corpus

    corpus = prepare_corpus(load_corpus("tinyshakespeare"), "tinyshakespeare")
    preset = train_preset("tiny")
    cfg = TrainConfig(max_steps=10_000_000, time_budget_s=seconds, batch_size=preset.batch_size, lr=preset.lr, muon_lr=preset.muon_lr, eval_every=200, log_every=10)
    run = TrainingRun(corpus, model_preset("tiny", corpus.tokenizer.vocab_size), cfg, device=pick_device("auto"))
    job = run.make_job()
    t0 = time.perf_counter()
    job.start()
    job.join()
    wall = time.perf_counter() - t0
    record = job.result.record
    return dict(steps=record["steps"], train_s=record["elapsed_s"], eval_s=record["eval_s"], wall_s=wall, val_loss=record["val_loss"])


def app_run(seconds: float, stop_after: float | None, away: bool = False) -> dict:
    from playwright.sync_api import expect, sync_playwright

    from tests.browser_harness import (
        StreamlitServer,
        launch_browser,
        main_area,
        open_page,
        wait_idle,
    )

    server = StreamlitServer().start()
    try:
        with sync_playwright() as p:
            browser = launch_browser(p)
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            open_page(page, server.url, "", timeout=180_000)
            page.get_by_test_id("stSidebarNavLink").filter(has_text="Train a model").click()
            wait_idle(page, 180_000)
            main = main_area(page)
            if seconds != 60:
                box = main.get_by_role("spinbutton", name="Seconds of training")
                box.fill(str(int(seconds)))
                box.press("Enter")
                wait_idle(page)
            # The server measures its speed once, with a few training steps, on the first visit: let it
            # finish, so that it does not run beside the training being measured.
            expect(main.get_by_text("measuring…", exact=True)).to_have_count(0, timeout=180_000)
            wait_idle(page)
            cpu = CpuTimes().start()
            t0 = time.perf_counter()
            main.get_by_role("button", name="Train", exact=True).click()
            if away:  # watch from another chapter: only the sidebar's status polls (every 2 s)
                wait_idle(page)
                page.get_by_test_id("stSidebarNavLink").filter(has_text="Overview").click()
                time.sleep(seconds)
                while page.get_by_test_id("stSidebar").get_by_text(re.compile(r"^(step|starting|measuring)")).count():
                    time.sleep(0.5)
                page.get_by_test_id("stSidebarNavLink").filter(has_text="Train a model").click()
                wait_idle(page)
            summary = main.get_by_text(re.compile(r"^Trained [\d,]+ steps in"))
            # A glance a second, as a person watching would: Playwright's own wait (expect ... to_be_visible) searches
            # the page on every animation frame, which cost the browser 12.4% of a core instead of 4.6% during a run
            # (benchmarks/watch_cost.py with WATCH_EXPECT=1) and so took that much from the job it measures.
            deadline = time.monotonic() + seconds * 6 + 300
            while not summary.count():
                if time.monotonic() > deadline:
                    raise TimeoutError("the run's summary did not appear")
                time.sleep(1.0)
            wall = time.perf_counter() - t0
            shares = cpu.stop()
            text = summary.inner_text()
            m = re.search(r"Trained ([\d,]+) steps in ([\d.]+) s of training .*took ([\d.]+) s more\. Final val loss ([\d.]+)", text)
            result = dict(steps=int(m.group(1).replace(",", "")), train_s=float(m.group(2)), eval_s=float(m.group(3)), wall_s=wall, val_loss=float(m.group(4)),
                          cpu=shares)
            if stop_after is None:
                browser.close()
                return result
            # Stop latency: a second run, stopped after a few seconds.
            main.get_by_role("button", name="Train", exact=True).click()
            time.sleep(stop_after)
            main.get_by_role("button", name="Stop", exact=True).click()
            stopped = main.get_by_text(re.compile(r"Training stopped by user \(([\d.]+) s after the request\)"))
            expect(stopped).to_be_visible(timeout=120_000)
            result["stop_latency_s"] = float(re.search(r"\(([\d.]+) s after", stopped.inner_text()).group(1))
            if "before its first step" in stopped.inner_text():
                result["stop_note"] = "(the worker had not finished its first step when Stop was pressed)"
            browser.close()
        return result
    finally:
        server.stop()


def show(name: str, r: dict, reference: dict | None = None) -> None:
    rate = r["steps"] / r["train_s"]
    line = (f"{name:<28} {r['steps']:6,d} steps in {r['train_s']:6.1f} s of training = {rate:6.2f} steps/s"
            f" | eval+samples {r['eval_s']:5.1f} s | wall {r['wall_s']:6.1f} s ({r['steps'] / r['wall_s']:5.2f} steps/s)"
            f" | final val loss {r['val_loss']:.3f}")
    if reference:
        line += f" | {100 * ratio(r, reference):5.1f}% of the CLI's rate"
    print(line, flush=True)
    if r.get("cpu"):
        print("    CPU while it ran, share of one core: " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in sorted(r["cpu"].items(), key=lambda kv: -kv[1])), flush=True)


def ratio(r: dict, reference: dict) -> float:
    return (r["steps"] / r["train_s"]) / (reference["steps"] / reference["train_s"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="training-time budget of each run (60 = the page's default)")
    parser.add_argument("--stop-after", type=float, default=15.0, help="seconds before pressing Stop in the latency run")
    parser.add_argument("--repeat", type=int, default=1, help="run the series this many times and print the median ratios")
    parser.add_argument("--skip", nargs="*", default=[], choices=["cli", "job", "app", "app-away"])
    parser.add_argument("--cli-threads", type=int, default=None,
                        help="also time the CLI with this many torch threads (a second reference; the ratios stay against the default)")
    args = parser.parse_args(argv)
    print(f"tiny preset, Tiny Shakespeare, {args.seconds:g} s of training per run", flush=True)
    labels = {"cli": "CLI (python -m llm_core.train)", "cli-threads": f"CLI with {args.cli_threads} torch thread(s)", "job": "job in a worker (no Streamlit)", "app": "app, watching the live view",
              "app-away": "app, user on another chapter"}
    series = []
    for i in range(args.repeat):
        last_round = i == args.repeat - 1
        stop_after = args.stop_after if last_round else None  # Stop's latency is measured once, in the last round
        runs = (("cli", lambda: cli_run(args.seconds)), ("cli-threads", lambda: cli_run(args.seconds, args.cli_threads)), ("job", lambda: job_run(args.seconds)),
                ("app", lambda s=stop_after: app_run(args.seconds, s)), ("app-away", lambda s=stop_after: app_run(args.seconds, s, away=True)))
        results = {}
        for name, fn in runs:
            if name in args.skip or (name == "cli-threads" and not args.cli_threads):
                continue
            before = os.getloadavg()[0]
            results[name] = fn()
            results[name]["load"] = (before, os.getloadavg()[0])
            print(f"  [round {i + 1}, {name}] load average before {before:.1f}, after {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} CPUs", flush=True)
            show(labels[name], results[name], results.get("cli") if name != "cli" else None)  # at once: a later run may fail
        series.append(results)
    print()
    for i, results in enumerate(series):
        print(f"round {i + 1}:")
        for name, r in results.items():
            show(labels[name], r, results.get("cli") if name != "cli" else None)
            print(f"    load average (1 min) {r['load'][0]:.1f} before, {r['load'][1]:.1f} after")
    if "cli" not in args.skip:
        print()
        for name in ("cli-threads", "job", "app", "app-away"):
            ratios = [ratio(results[name], results["cli"]) for results in series if name in results]
            if ratios:
                loads = [results[name]["load"][0] for results in series if name in results]
                print(f"{labels[name]}: median {100 * statistics.median(ratios):.1f}% of the CLI's rate over {len(ratios)} paired run(s) "
                      f"({', '.join(f'{100 * r:.1f}%' for r in ratios)}; load averages before: {', '.join(f'{x:.1f}' for x in loads)})")
    last = series[-1]
    for name in ("app", "app-away"):
        if name not in last or "stop_latency_s" not in last[name]:
            continue
        print(f"Stop in the {name}: the run ended {last[name]['stop_latency_s']:.2f} s after Stop was pressed {last[name].get('stop_note', '')}"
              "(the step in progress is dropped, a sample cut short and one chunk of the held-out split measured)")
    print("CLI and app val losses differ in what they measure against: the CLI evaluates every 250 steps on the whole held-out "
          "split, the app on a time cadence on 16k tokens; the app's final loss is on the whole held-out split or, when that "
          "would take over 15 s, on the random sample it measured (the page says which).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
