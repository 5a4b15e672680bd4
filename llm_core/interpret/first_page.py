"""The Overview's figures for a shipped model on its default prompt: made once, shipped beside it.

What it is: `make(name)` loads assets/models/<name>.safetensors, sends walkthrough.DEFAULT_PROMPT
through it exactly as the Overview does (`walkthrough.walk`, seed 0), and returns what the page
shows of it: that walk, the model's facts (`anatomy.facts`: parameters, where they are, how they
are stored) and its lineage, with the sha256 of the weights file it was made from. `load(name)`
reads the shipped file back without torch, and only while the weights file is still the one it
was made from. With it, a fresh server's first page (the Overview, on the bundled model and the
default prompt) is drawn before torch is imported: about a second sooner
(benchmarks/app_startup.py). tests/test_first_page.py checks that what is shipped is what the
model computes now.
What it is not: a cache for any other prompt or model; those run the model.

    python -m llm_core.interpret.first_page [--model shakespeare-tiny]

writes assets/models/<name>.first-page.json (the command that made the shipped file).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import sys

from llm_core.interpret.walkthrough import DEFAULT_PROMPT, NEW_TOKENS, TEMPERATURE
from llm_core.paths import DEFAULT_MODEL, MODELS_DIR

FORMAT, VERSION = "llm-lab-first-page", 1
BUNDLED_LINEAGE_NAME = "Shakespeare (bundled)"  # the bundled model's name on every desk (lab_ui.state.BUNDLED_NAME is this)


def path_of(name: str):
    return MODELS_DIR / f"{name}.first-page.json"


def weights_sha256(name: str) -> str:
    return hashlib.sha256((MODELS_DIR / f"{name}.safetensors").read_bytes()).hexdigest()


def make(name: str = DEFAULT_MODEL, lineage_name: str = BUNDLED_LINEAGE_NAME) -> dict:
    """What the Overview shows of the shipped model `name` on its default prompt, computed now."""
    from llm_core.interpret.walkthrough import walk
    from llm_core.model import anatomy, lineage
    from llm_core.model.checkpoint import load_checkpoint

    loaded = load_checkpoint(MODELS_DIR / f"{name}.safetensors")
    w = walk(loaded.model, loaded.tokenizer, DEFAULT_PROMPT, new_tokens=NEW_TOKENS, temperature=TEMPERATURE, seed=0)
    made = lineage.from_record(loaded.model, loaded.tokenizer, loaded.meta, "bundled", name=lineage_name)
    return {
        "format": FORMAT, "version": VERSION, "model": name, "weights_sha256": weights_sha256(name),
        "prompt": DEFAULT_PROMPT, "new_tokens": NEW_TOKENS, "temperature": TEMPERATURE, "seed": 0,
        "walk": w.to_dict(), "facts": anatomy.facts(loaded.model).to_dict(), "lineage": made,
        "command": f"python -m llm_core.interpret.first_page --model {name}",
    }


@functools.cache
def load(name: str = DEFAULT_MODEL) -> dict | None:
    """The shipped figures of model `name`, or None: no file, another format, or weights that have
    changed since it was made (then every page runs the model, as for any other)."""
    try:
        shipped = json.loads(path_of(name).read_text(encoding="utf-8"))
        if shipped.get("format") != FORMAT or shipped.get("version") != VERSION or shipped.get("weights_sha256") != weights_sha256(name):
            return None
    except (OSError, ValueError, AttributeError):
        return None
    return shipped


def shows(shipped: dict | None, prompt: str) -> bool:
    """Whether the shipped walk is the one the Overview would compute for `prompt` now."""
    return (shipped is not None and shipped["prompt"] == prompt and shipped["new_tokens"] == NEW_TOKENS
            and shipped["temperature"] == TEMPERATURE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write assets/models/<model>.first-page.json: the Overview's figures for a shipped model.")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    args = parser.parse_args(argv)
    made = make(args.model)
    path_of(args.model).write_text(json.dumps(made, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    load.cache_clear()
    print(f"wrote {path_of(args.model)}: {made['facts']['num_params']:,} parameters, {made['walk']['new_tokens']} tokens sampled")
    return 0


if __name__ == "__main__":
    sys.exit(main())
