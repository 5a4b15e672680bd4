"""Server memory with 50 desks of models: only the models in use stay in memory.

    PYTHONPATH=.:tests nice -n 5 python benchmarks/lab_memory.py [--desks 50] [--models 3] [--budgets 64 100000]

Fills a fresh data folder with --desks desks of --models models each (the tiny preset, 3.2 MB of
weights apiece, each a child of the one before it), then for each memory budget
(LLM_LAB_MODEL_MEMORY_MB; 100000 stands for "no limit", which is what keeping every desk in memory
amounts to) starts `streamlit run app.py` on that folder and opens every desk in headless Chromium
(its cookie set as the owner's browser would have it) on the Compare chapter, which loads two of the
desk's models. Prints the server's resident memory (VmRSS) after every 10 desks and the load average;
asserts nothing.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def fill(folder: Path, desks: int, models: int) -> tuple[str, list[str]]:
    import torch

    from llm_core.lab.store import LabStore
    from llm_core.model import lineage
    from llm_core.model.config import model_preset
    from llm_core.text.tokenizers import CharTokenizer
    from llm_core.training.loop import build_model

    store = LabStore(folder)
    tok = CharTokenizer.from_text("".join(chr(c) for c in range(32, 97)))
    ids = []
    for d in range(desks):
        desk_id = f"benchmark-desk-{d:03d}-{os.urandom(4).hex()}"
        store.create_desk(desk_id)
        parent = None
        for m in range(models):
            model = build_model(model_preset("tiny", tok.vocab_size), seed=d * 100 + m)
            with torch.no_grad():
                model.wte.weight.add_(0.01 * (d * models + m))
            lin = {**lineage.make(model, tok, "pre-training" if parent is None else "SFT", parent=parent), "name": f"model {m}"}
            meta = {"record": {}, "lineage": lin, "tokenizer": tok.to_dict(), "model_config": model.config.to_dict(),
                    "format": "llm-lab-checkpoint", "version": 1}
            store.add_model(desk_id, f"model {m}", lin["hash"], meta, "trained", model, tok)
            parent = lin
        store.save_desk(desk_id, current=f"model {models - 1}")
        ids.append(desk_id)
    return store.id, ids


def measure(folder: Path, store_id: str, ids: list[str], budget_mb: int) -> None:
    from browser_harness import StreamlitServer, launch_browser, open_page
    from playwright.sync_api import sync_playwright

    server = StreamlitServer(env={"LLM_LAB_DATA_DIR": str(folder), "LLM_LAB_MODEL_MEMORY_MB": str(budget_mb)}).start()
    try:
        with sync_playwright() as p:
            browser = launch_browser(p)
            context = browser.new_context(viewport={"width": 1200, "height": 900})
            page = context.new_page()
            open_page(page, server.url, "", timeout=180_000)
            print(f"budget {budget_mb} MB: server RSS {rss_mb(server.proc.pid):,.0f} MB after the first page (load {os.getloadavg()[0]:.1f})", flush=True)
            t0 = time.time()
            for i, desk_id in enumerate(ids, start=1):
                context.clear_cookies()
                context.add_cookies([{"name": f"llm_lab_desk_{store_id}", "value": desk_id, "url": server.url}])
                open_page(page, server.url, "compare", timeout=180_000)
                if not page.get_by_test_id("stMain").get_by_text("1 · The next token").count():
                    print(f"  desk {i}: the Compare chapter did not show both models", flush=True)
                if i % 10 == 0:
                    print(f"  {i} desks: server RSS {rss_mb(server.proc.pid):,.0f} MB, {(time.time() - t0) / i:.1f} s per desk "
                          f"(load {os.getloadavg()[0]:.1f})", flush=True)
            browser.close()
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--desks", type=int, default=50)
    parser.add_argument("--models", type=int, default=3)
    parser.add_argument("--budgets", type=int, nargs="+", default=[64, 100_000])
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="llm-lab-memory-"))
    t0 = time.time()
    store_id, ids = fill(folder, args.desks, args.models)
    on_disk = sum(f.stat().st_size for f in (folder / "weights").rglob("*.safetensors"))
    print(f"{args.desks} desks x {args.models} tiny models: {on_disk / 2**20:,.0f} MB of weights on disk ({time.time() - t0:.0f} s to make)", flush=True)
    for budget in args.budgets:
        measure(folder, store_id, ids, budget)


if __name__ == "__main__":
    main()
