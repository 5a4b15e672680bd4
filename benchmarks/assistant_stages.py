"""Each stage of the "Making an assistant" chapter at default settings: wall times, and RLHF beside DPO.

    PYTHONPATH=. nice -n 5 python benchmarks/assistant_stages.py [--seeds 0 1 2] [--ratings 200] [--threads 1]

Runs, on the bundled tiny Shakespeare model and the built-in pairs, the functions the page's
buttons run (llm_core.alignment.assistant and .rating), each stage with its default configuration
and in a worker thread as the page's job does: supervised fine-tuning; the automatic rater
(`auto_rate`) until it has --ratings rankings; the reward model; RLHF against the reward model;
DPO on the same rankings. Before/after figures are sampled answers (temperature 1) to every
held-out prompt, judged by the written labelling instructions (not by the reward model), with 95%
intervals; the last table pools the seeds. Prints figures; asserts nothing.
"""

import argparse
import os
import threading
import time
from pathlib import Path

from llm_core.alignment import compute
from llm_core.alignment.assistant import DPOStage, RewardStage, RLHFStage, SFTStage, change, rlhf_config
from llm_core.alignment.judge import difference_interval, wilson_interval
from llm_core.alignment.rating import auto_rate
from llm_core.alignment.readings import reward_hacking
from llm_core.alignment.tasks import make_examples
from llm_core.model.checkpoint import load_checkpoint
from llm_core.model.device import TRAINING_THREADS, use_threads

ROOT = Path(__file__).resolve().parent.parent


STAGE_THREADS = TRAINING_THREADS  # what a Job's thread uses; --threads changes it


def run_stage(stage):
    """Run a stage to its end: the steps, `measure` and `finish` that the page's job runs in a worker
    process, here in a thread so that --threads sets the torch threads; returns (result, seconds, stop reason)."""
    out = {}

    def work():
        use_threads(STAGE_THREADS)  # what a Job's thread does
        stop = threading.Event()
        last = None
        for record in stage.steps(stop):
            last = record
        reason = last.stop_reason if last is not None else None
        stage.measure()
        out["result"], out["reason"] = stage.finish(last, reason), reason

    t0 = time.perf_counter()
    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    return out["result"], time.perf_counter() - t0, out["reason"]


def pct(x: float) -> str:
    return f"{100 * x:5.1f}"


def ci(lo: float, hi: float) -> str:
    return f"[{100 * lo:+.1f}, {100 * hi:+.1f}]"


def one_seed(loaded, seed: int, n_ratings: int, kls: list[float], rlhf_overrides: dict, dpo: bool = True) -> dict:
    load = lambda: f"load {os.getloadavg()[0]:.2f}"
    sft = SFTStage(loaded.model, loaded.tokenizer, make_examples(), seed=seed, base_name="bundled", base_record=loaded.record)
    result, seconds, reason = run_stage(sft)
    before = sft.assessment
    pre = compute.pretraining_row("bundled", loaded.model.config, loaded.record)
    print(f"[seed {seed}] compute: pre-training {pre.flops:.3g} FLOPs; SFT {sft.flops:.3g} ({100 * sft.flops / pre.flops:.1f}% of it)")
    print(f"[seed {seed}] SFT {sft.state.step} steps: {seconds:.0f} s ({reason}; {load()}); held-out: preferred {pct(before.preferred_share)}%, "
          f"task accuracy {pct(before.accuracy)}% on {before.n} samples; pass@1 {sft.passes['pass@1']:.2f} pass@{sft.passes['k']} {sft.passes['pass@8']:.2f}")

    t0 = time.perf_counter()
    report = auto_rate(result.model, result.tokenizer, sft.prompts, n_ratings, seed=seed)
    print(f"[seed {seed}] rater: {len(report.pairs)} rankings of {report.looked} pairs read ({report.skipped} skipped) in {time.perf_counter() - t0:.0f} s ({load()})")

    rm_stage = RewardStage(result, report.pairs, seed=seed)
    rm, seconds, reason = run_stage(rm_stage)
    lo, hi = rm.interval
    print(f"[seed {seed}] reward model {rm_stage.state.step} steps: {seconds:.0f} s ({reason}; {load()}); held-out pairs ranked as the rule: "
          f"{pct(rm.accuracy)}% [{pct(lo)}, {pct(hi)}] of {rm.n_held_out}{' (at chance)' if rm.at_chance else ''}")

    rows = {}
    for kl in kls:  # the default leash first; others show what a weaker or stronger one does
        rl = RLHFStage(result, rm, sft.prompts, sft.held_out, before=before, before_passes=sft.passes, cfg=rlhf_config(**{**rlhf_overrides, 'kl_coef': kl}), seed=seed)
        tuned, seconds, reason = run_stage(rl)
        rows[f"RLHF kl={kl:g}"] = (rl, tuned, seconds, reason)
    if dpo:
        stage = DPOStage(result, report.pairs, sft.held_out, before=before, before_passes=sft.passes, seed=seed)
        tuned, seconds, reason = run_stage(stage)
        rows["DPO"] = (stage, tuned, seconds, reason)
    for name, (stage, tuned, seconds, reason) in rows.items():
        d, dlo, dhi = change(before, stage.after)
        a, alo, ahi = change(before, stage.after, "accuracy")
        rec = tuned.record
        extra = f"reward {rec['reward_first']:.2f} -> {rec['reward_last']:.2f}, KL {rec['kl_last']:.2f} nats/answer" if name.startswith("RLHF") else f"KL {rec['kl_last']:.3f} nats/token"
        hacked = "reward hacking named" if reward_hacking(before, stage.after) else "no reward hacking named"
        flops = f"{stage.flops:.3g} FLOPs ({100 * stage.flops / pre.flops:.1f}% of pre-training), {hacked}"
        print(f"[seed {seed}] {name} {stage.state.step} steps: {seconds:.0f} s ({reason}; {load()}); {flops}; preferred {pct(before.preferred_share)} -> {pct(stage.after.preferred_share)} "
              f"({100 * d:+.1f} {ci(dlo, dhi)}); accuracy {pct(before.accuracy)} -> {pct(stage.after.accuracy)} ({100 * a:+.1f} {ci(alo, ahi)}); "
              f"pass@1 {stage.before_passes['pass@1']:.2f} -> {stage.after_passes['pass@1']:.2f}, pass@8 {stage.before_passes['pass@8']:.2f} -> {stage.after_passes['pass@8']:.2f}; {extra}")
    return {"before": before, "rm": rm, **{k: v[0] for k, v in rows.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--kl", type=float, nargs="+", default=[rlhf_config().kl_coef], help="KL coefficients of the RLHF runs (default: the page's)")
    parser.add_argument("--ratings", type=int, default=120, help="rankings the automatic rater makes (the page's default)")
    parser.add_argument("--rlhf", nargs="*", default=[], metavar="KEY=VALUE", help="RLHFConfig fields to change from the page's defaults, e.g. prompts_per_step=16")
    parser.add_argument("--no-dpo", action="store_true", help="skip DPO")
    parser.add_argument("--threads", type=int, default=TRAINING_THREADS, help="torch threads of each stage (default: the app's)")
    args = parser.parse_args()
    global STAGE_THREADS
    STAGE_THREADS = args.threads
    use_threads(1)  # as the app's page threads (the rater runs there); stages run in worker threads with all cores, as jobs do
    print(f"load average {os.getloadavg()[0]:.2f} (2 shared cores: times move with other load); {args.threads} torch thread(s) per stage")
    loaded = load_checkpoint(ROOT / "assets/models/shakespeare-tiny")
    overrides = {k: float(v) if any(c in v for c in ".e") else int(v) for k, v in (a.split("=", 1) for a in args.rlhf)}
    if overrides:
        print(f"RLHF changed from the page's defaults: {overrides}")
    runs = [one_seed(loaded, seed, args.ratings, args.kl, overrides, dpo=not args.no_dpo) for seed in args.seeds]

    print(f"\nPooled over seeds {args.seeds}: sampled answers to held-out prompts, judged by the written instructions; 95% intervals")
    print(f"{'model':13} {'samples':>7} {'preferred %':>22} {'change (points)':>24} {'task accuracy %':>22} {'change (points)':>24}")
    b_pref = sum(r["before"].preferred_count for r in runs)
    b_n = sum(r["before"].n for r in runs)
    b_cor = sum(r["before"].correct_count for r in runs)
    b_tn = sum(r["before"].task_n for r in runs)
    lo, hi = wilson_interval(b_pref, b_n)
    alo, ahi = wilson_interval(b_cor, b_tn)
    print(f"{'SFT':13} {b_n:7d} {pct(b_pref / b_n):>7} [{pct(lo)}, {pct(hi)}] {'':>24} {pct(b_cor / b_tn):>7} [{pct(alo)}, {pct(ahi)}]")
    for name in [k for k in runs[0] if k.startswith("RLHF") or k == "DPO"]:
        p = sum(r[name].after.preferred_count for r in runs)
        n = sum(r[name].after.n for r in runs)
        c = sum(r[name].after.correct_count for r in runs)
        tn = sum(r[name].after.task_n for r in runs)
        lo, hi = wilson_interval(p, n)
        alo, ahi = wilson_interval(c, tn)
        d, dlo, dhi = difference_interval(b_pref, b_n, p, n)
        a, adlo, adhi = difference_interval(b_cor, b_tn, c, tn)
        print(f"{name:13} {n:7d} {pct(p / n):>7} [{pct(lo)}, {pct(hi)}] {100 * d:+7.1f} {ci(dlo, dhi):>16} {pct(c / tn):>7} [{pct(alo)}, {pct(ahi)}] {100 * a:+7.1f} {ci(adlo, adhi):>16}")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
