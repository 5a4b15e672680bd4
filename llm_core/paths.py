"""Where LLM Lab's offline files are: `assets/` beside the package (corpora, tokenizer tables, models)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
