"""The bundled model beside its SFT and RLHF descendants, as a learner sees it in the Compare chapter.

    PYTHONPATH=. nice -n 5 python benchmarks/compare_lineage.py [--out /tmp/compare-lineage] [--reuse]

Makes the family with the functions the Fine-tune and align chapter's buttons run, at their default
settings (SFT, the automatic rater's 120 rankings, the reward model, RLHF), writes it as a teacher's
lab file (OUT/lineage.llmlab: the bundled model, its SFT child and its RLHF grandchild, each with its
lineage), starts `streamlit run app.py` with that folder as LLM_LAB_LABS_DIR, opens `?lab=lineage`
in headless Chromium (the file is imported into a fresh desk, as a class would open it), and
screenshots the Compare chapter on three requests: bundled against SFT and bundled against RLHF.
Prints the screenshot paths and what each model answered; asserts nothing. `--reuse` keeps a lab
file made before.
"""

import argparse
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

REQUESTS = ["Upper: gentle", "Reverse: noble", "Insult: grace"]


def run_stage(stage):
    stop = threading.Event()
    for _ in stage.steps(stop):
        pass
    stage.measure()
    return stage.finish(stage.last, "reached the step limit")


def make_family(path: Path) -> None:
    from llm_core.alignment.assistant import RewardStage, RLHFStage, SFTStage
    from llm_core.alignment.rating import auto_rate
    from llm_core.alignment.tasks import make_examples
    from llm_core.lab.labfile import write_lab
    from llm_core.model import lineage
    from llm_core.model.checkpoint import MODELS_DIR, load_checkpoint
    from llm_core.model.device import use_threads

    use_threads(1)  # one thread: on the shared 2-core machine two OpenMP threads waiting for each other ran many times slower
    base = load_checkpoint(MODELS_DIR / "shakespeare-tiny.safetensors")
    base.meta["lineage"] = lineage.from_record(base.model, base.tokenizer, base.meta, "bundled", name="Shakespeare (bundled)")
    t0 = time.time()
    stage = SFTStage(base.model, base.tokenizer, make_examples(), base_name="Shakespeare (bundled)", parent_lineage=base.meta["lineage"])
    sft = run_stage(stage)
    sft.meta["lineage"]["name"] = "Shakespeare (bundled) · SFT"
    print(f"SFT: {sft.record['steps']} steps, {time.time() - t0:.0f} s")
    pairs = auto_rate(sft.model, sft.tokenizer, stage.prompts, 120, seed=1000).pairs
    rm = run_stage(RewardStage(sft, pairs))
    print(f"reward model: {len(pairs)} rankings, held-out accuracy {rm.accuracy:.0%}, {time.time() - t0:.0f} s")
    rl = run_stage(RLHFStage(sft, rm, stage.prompts, stage.held_out, stage.assessment, stage.passes))
    rl.meta["lineage"]["name"] = "Shakespeare (bundled) · SFT · RLHF"
    print(f"RLHF: {rl.record['steps']} steps, preferred {rl.record['preferred_before']:.0%} -> {rl.record['preferred_after']:.0%}, {time.time() - t0:.0f} s")
    models = [("Shakespeare (bundled)", "bundled", base.model, base.tokenizer, base.meta),
              ("Shakespeare (bundled) · SFT", "fine-tuned", sft.model, sft.tokenizer, sft.meta),
              ("Shakespeare (bundled) · SFT · RLHF", "fine-tuned", rl.model, rl.tokenizer, rl.meta)]
    path.write_bytes(write_lab(models, "Shakespeare (bundled) · SFT · RLHF"))


def screenshots(out: Path) -> None:
    from browser_harness import StreamlitServer, desk_cookie, launch_browser, open_page, wait_idle
    from playwright.sync_api import sync_playwright

    from llm_core.lab.labfile import read_lab

    lab = read_lab((out / "lineage.llmlab").read_bytes())
    hashes = {m.name: m.hash for m in lab.models}
    server = StreamlitServer(env={"LLM_LAB_DATA_DIR": str(out / "data"), "LLM_LAB_LABS_DIR": str(out)}).start()
    try:
        with sync_playwright() as p:
            browser = launch_browser(p)
            page = browser.new_context(viewport={"width": 1500, "height": 4600}).new_page()  # tall: Streamlit scrolls inside its own frame
            page.set_default_timeout(180_000)
            open_page(page, server.url, "?lab=lineage", timeout=180_000)
            page.get_by_text("Opened the lab file").wait_for(timeout=120_000)
            assert desk_cookie(page.context, page, timeout_s=60), "the page did not keep its desk in a cookie"  # before leaving the page
            for child in ("Shakespeare (bundled) · SFT", "Shakespeare (bundled) · SFT · RLHF"):
                for i, request in enumerate(REQUESTS, start=1):
                    params = {"cmp_a": hashes["Shakespeare (bundled)"], "cmp_b": hashes[child], "cmp_request": request, "cmp_prompt": request + "\n"}
                    open_page(page, server.url, "compare?" + urlencode(params), timeout=180_000)
                    wait_idle(page, 180_000)
                    main = page.get_by_test_id("stMain")
                    main.locator(".gtitle", has_text="Next-token probability, A beside B").wait_for()
                    main.get_by_test_id("stCode").nth(3).wait_for()  # the two samples and the two answers
                    page.wait_for_function("() => document.querySelectorAll('[data-testid=stSkeleton]').length === 0")
                    tag = "sft" if child.endswith("SFT") else "rlhf"
                    shot = ROOT / "tests" / "artifacts" / f"compare-bundled-vs-{tag}-{i}.png"
                    shot.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(shot), full_page=True)
                    answers = page.get_by_test_id("stMain").get_by_test_id("stCode").all_inner_texts()
                    print(f"{shot}: {request!r}; answers (bundled, {tag}): {answers[2:4]}")
            browser.close()
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="/tmp/compare-lineage")
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not (args.reuse and (out / "lineage.llmlab").exists()):
        make_family(out / "lineage.llmlab")
    screenshots(out)


if __name__ == "__main__":
    main()
