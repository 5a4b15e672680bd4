"""Print the speed figures of the Tokenization and Embeddings chapters (no assertions).

    PYTHONPATH=. python benchmarks/bench_text_chapters.py   # from the repository root

What it measures: each tokenizer of the side-by-side comparison on 100,000 characters (the
row the page builds: ids, first 400 pieces, counts); LLM Lab's BPE trained on Tiny Shakespeare
and replayed merge by merge (once per server); "train on your text" at its caps; and full page
renders through Streamlit's AppTest (first render includes the server-wide caches).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
from llm_core.model.checkpoint import MODELS_DIR, load_checkpoint  # noqa: E402
from llm_core.text import bpe  # noqa: E402
from llm_core.text.data import load_corpus  # noqa: E402
from llm_core.text.tokenizers import BPETokenizer, TiktokenTokenizer  # noqa: E402
from llm_core.text.tokenview import replay_bpe, tokenize_row  # noqa: E402


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    shakespeare = load_corpus("tinyshakespeare")
    text = shakespeare[:100_000]
    hostile = ("日本語のテキスト 🙂👍🏽 Straße " * 4000)[:100_000]
    print("== Tokenization: one comparison row for 100,000 characters (best of 3) ==")
    start = time.perf_counter()
    merges = bpe.train_merges(shakespeare, 1000)
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    replay = replay_bpe(shakespeare, merges)
    replay_s = time.perf_counter() - start
    ours = BPETokenizer([m.pair for m in merges])
    tokenizers = {
        "characters": load_checkpoint(MODELS_DIR / "shakespeare-tiny.safetensors").tokenizer,
        "LLM Lab BPE (1,000 merges)": ours,
        **{name: TiktokenTokenizer(name) for name in ("r50k_base", "cl100k_base", "o200k_base")},
    }
    for name, tok in tokenizers.items():
        ours._cache.clear()
        cold = best_of(lambda tok=tok: tokenize_row(tok, text, max_pieces=400), repeat=1)
        warm = best_of(lambda tok=tok: tokenize_row(tok, text, max_pieces=400))
        weird = best_of(lambda tok=tok: tokenize_row(tok, hostile, max_pieces=400))
        count = tokenize_row(tok, text).count
        print(f"  {name:28s} {count:7,} tokens   first {cold * 1000:6.1f} ms   again {warm * 1000:6.1f} ms   CJK/emoji text {weird * 1000:6.1f} ms")
    print("== BPE step by step ==")
    print(f"  Tiny Shakespeare ({len(shakespeare):,} chars): train 1,000 merges {train_s:.2f} s, exact replay {replay_s:.2f} s"
          f" ({replay.token_counts[0]:,} -> {replay.token_counts[-1]:,} tokens)")
    cap_text = shakespeare[:100_000]
    start = time.perf_counter()
    user_merges = bpe.train_merges(cap_text, 1000)
    replay_bpe(cap_text, user_merges)
    print(f"  'train on your text' at its caps (100,000 chars, 1,000 merges): {time.perf_counter() - start:.2f} s")
    print("== Page renders (AppTest, includes Streamlit overhead) ==")
    from streamlit.testing.v1 import AppTest

    def render(page: str, setup=None) -> list[float]:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
        times = []
        for i in range(3):
            start = time.perf_counter()
            if i == 0:
                at.switch_page(page).run()
            elif setup is not None:
                setup(at, i)
            else:
                at.run()
            times.append(time.perf_counter() - start)
            if at.exception:
                raise SystemExit(f"{page}: {at.exception}")
        return times

    first, *rest = render("pages/tokenization.py")
    print(f"  tokenization: first render {first:.2f} s (trains the shared BPE), reruns {statistics.mean(rest):.2f} s")
    huge = ("To be, or not to be: that is the question. " * 2400)[:100_000]
    _, *rest = render("pages/tokenization.py", lambda at, i: at.text_area(key="tok_text").set_value(huge + str(i)).run())
    print(f"  tokenization with 100,000 characters typed: {statistics.mean(rest):.2f} s per rerun")
    first, *rest = render("pages/embeddings.py")
    print(f"  embeddings: first render {first:.2f} s, reruns {statistics.mean(rest):.2f} s")


if __name__ == "__main__":
    main()
