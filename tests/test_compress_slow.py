"""The slow round trips: held-out text with the bundled model, and 1 MB of hostile text."""

import math
import random

import pytest
from conftest import perturbed_model

from llm_core.compression.coder import compress, decompress
from llm_core.model.checkpoint import default_checkpoint_path, load_checkpoint
from llm_core.model.config import model_preset
from llm_core.text.data import TokenSplit
from llm_core.training.loop import TextBatches, evaluate

pytestmark = pytest.mark.slow

HELD_OUT_CHARS = 16_384  # 128 fixed windows of the bundled model's context: about 20 s of coding here, the whole split about 4 min


def test_held_out_text_round_trips_at_the_models_cross_entropy(shakespeare):
    """Fixed windows, the validation loss's own protocol: the coded size is the model's cross-entropy within 1%.

    The recorded validation loss is first measured again on the whole held-out split (batched, a few
    seconds); the coder then runs on the first 128 windows of it (coding is one token at a time, in
    both directions), whose cross-entropy is measured the same batched way."""
    loaded = load_checkpoint(default_checkpoint_path())
    split = TokenSplit.from_ids(loaded.tokenizer.encode(shakespeare))
    block = loaded.model.config.block_size
    assert evaluate(loaded.model, TextBatches(split, block), loaded.model.device) == pytest.approx(loaded.record["val_loss"], abs=1e-4)
    text = loaded.tokenizer.decode(split.val[:HELD_OUT_CHARS].tolist())
    nats = evaluate(loaded.model, TextBatches(split, block, eval_tokens=HELD_OUT_CHARS), loaded.model.device)  # the same windows
    packed = compress(loaded.model, loaded.tokenizer, text, keep_pieces=False, window="fixed")
    assert decompress(loaded.model, loaded.tokenizer, packed.data).text == text
    # The coder's overhead over the model's ideal code length under the same distributions: well under 1%.
    assert packed.ideal_bits_per_char <= packed.payload_bits_per_char <= packed.ideal_bits_per_char * 1.001
    measured = nats / math.log(2)  # characters: one token per character
    assert abs(packed.payload_bits_per_char / measured - 1) < 0.01
    assert abs(packed.bits_per_char / measured - 1) < 0.01  # the header included (about 0.9% of a file this short)


def test_one_megabyte_of_hostile_text_round_trips(char_tok):
    """1 MB of UTF-8: CJK, emoji (with joiners and skin tones), accents, control characters and some Shakespeare-like ASCII."""
    model = perturbed_model(model_preset("nano", char_tok.vocab_size), seed=5)
    rng = random.Random(0)
    alphabet = [chr(c) for c in range(0x4E00, 0x4E00 + 2000)] + ["🙂", "🚀", "👩", "\u200d", "🏽", "é", "ß", "\t", "\x07", "\r"]
    lines, size = [], 0
    while size < 1_000_000:
        line = "To be, or not. " + "".join(rng.choice(alphabet) for _ in range(200)) + "\n"
        lines.append(line)
        size += len(line.encode("utf-8"))
    text = "".join(lines)
    packed = compress(model, char_tok, text, keep_pieces=False)
    assert packed.n_escapes > 200_000
    assert decompress(model, char_tok, packed.data).text == text
    # Repeated characters come from the escape table, far cheaper than 8 bits per UTF-8 byte.
    assert len(packed.data) < len(text.encode("utf-8")) / 2
