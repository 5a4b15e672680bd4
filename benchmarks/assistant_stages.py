"""Wall-clock time and results of each stage of the "Making an assistant" chapter, default settings.

    python benchmarks/assistant_stages.py [--ratings 40]

Runs, on the bundled tiny Shakespeare model and the built-in pairs, exactly what the page's
buttons run (llm_core.alignment.assistant), each stage with its default configuration, in a worker thread
as the page does: supervised fine-tuning (600 steps); the automatic rater on sampled pairs until
it has rated --ratings of them; the reward model (150 steps); preference tuning (150 steps, after
the reward model labels 200 more pairs). Prints wall times (the goal is under 2 minutes a stage)
and the measured accuracies. Prints figures; asserts nothing.
"""

import argparse
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from llm_core.alignment.assistant import (  # noqa: E402
    PreferenceStage,
    RewardStage,
    SFTStage,
    candidate_pairs,
    rate_automatically,
)
from llm_core.alignment.tasks import make_examples  # noqa: E402
from llm_core.model.checkpoint import load_checkpoint  # noqa: E402


def run_stage(stage):
    """Run a stage to its end in a worker thread, as the page's job does; returns (result, seconds)."""
    out = {}

    def work():
        stop = threading.Event()
        last = None
        for last in stage.steps(stop):
            pass
        out["result"] = stage.finish(last, last.stop_reason if last is not None else None)
        out["reason"] = last.stop_reason if last is not None else None

    t0 = time.perf_counter()
    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    if out.get("reason") != "reached the step limit":
        print(f"  (ended early: {out.get('reason')})")
    return out["result"], time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ratings", type=int, default=40, help="pairs the automatic rater rates before the reward model")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}; torch threads as in the app")
    loaded = load_checkpoint(ROOT / "assets/models/shakespeare-tiny")
    examples = make_examples()

    sft = SFTStage(loaded.model, loaded.tokenizer, examples, base_name="bundled")
    result, seconds = run_stage(sft)
    print(f"SFT, {result.record['steps']} steps: {seconds:.1f} s wall ({result.record['elapsed_s']:.1f} s of training); "
          f"exact match on {len(sft.probe)} held-out prompts {sft.before.accuracy:.0%} -> {sft.after.accuracy:.0%} "
          f"({', '.join(f'{k} {v:.0%}' for k, v in sft.after.by_task().items())})")

    t0, ratings, looked = time.perf_counter(), [], 0
    while len(ratings) < args.ratings and looked < 20 * args.ratings:
        batch = candidate_pairs(result.model, result.tokenizer, sft.train_set, 24, seed=looked)
        looked += len(batch)
        ratings += [p for p in rate_automatically(batch) if p is not None]
    print(f"automatic rater: {len(ratings)} pairs rated of {looked} sampled in {time.perf_counter() - t0:.1f} s")

    rm_stage = RewardStage(result, ratings)
    rm, seconds = run_stage(rm_stage)
    print(f"reward model, {rm_stage.state.step} steps: {seconds:.1f} s wall; held-out accuracy {rm_stage.accuracy_before:.0%} -> {rm.accuracy:.0%} on {rm.n_held_out} pairs")

    pref = PreferenceStage(result, ratings, sft.held_out, sft.train_set, reward=rm)
    tuned, seconds = run_stage(pref)
    print(f"preference tuning, {pref.state.step} steps on {len(pref.pairs)} pairs ({tuned.record['pairs_from_reward_model']} labelled by the reward model): "
          f"{seconds:.1f} s wall; sampled answers right {pref.before.accuracy:.0%} -> {pref.after.accuracy:.0%}; KL at the end {tuned.record['kl_last']}")


if __name__ == "__main__":
    main()
