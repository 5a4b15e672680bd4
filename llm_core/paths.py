"""Where LLM Lab's offline files are: `assets/` beside the package (corpora, tokenizer tables, models)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
MODELS_DIR = ASSETS / "models"  # the shipped models (llm_core.model.checkpoint reads them)
DEFAULT_MODEL = "shakespeare-tiny"  # the bundled model every new desk starts with
