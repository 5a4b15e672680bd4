"""The model as a lossless compressor: round trips, hostile text, malformed files, a fresh-process decode."""

import math
import random
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, perturbed_model

from llm_core.compress import main as compress_cli
from llm_core.compression.baselines import classical, order_k, order_k_bits
from llm_core.compression.coder import CompressionError, compress, decompress, read_header
from llm_core.model.checkpoint import default_checkpoint_path, load_checkpoint, save_checkpoint
from llm_core.model.config import model_preset
from llm_core.text.data import eval_windows
from llm_core.text.tokenizers import BPETokenizer

HOSTILE = {
    "empty": "",
    "one character": "a",
    "one unseen character": "€",
    "unseen characters": "naïve café — “quotes” ~ {braces} | tab\there",
    "emoji and CJK": "🙂🚀 日本語のテキスト 中文 한국어 👩‍👩‍👧 " * 3,
    "only escapes, repeated": "日本" * 40,
    "CRLF and NUL": "line one\r\nline two\x00\r\n",
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_round_trip_is_exact_on_hostile_text(nano_model, char_tok, name):
    text = HOSTILE[name]
    packed = compress(nano_model, char_tok, text)
    assert decompress(nano_model, char_tok, packed.data).text == text
    assert packed.n_chars == len(text)
    assert packed.n_escapes == sum(c not in char_tok.stoi for c in text)


def test_longer_than_the_context_slides_the_window_the_same_way_on_both_sides(nano_model, char_tok, shakespeare):
    text = shakespeare[5000:5000 + 5 * nano_model.config.block_size + 17]
    packed = compress(nano_model, char_tok, text)
    assert decompress(nano_model, char_tok, packed.data).text == text


def test_byte_level_bpe_model_round_trips_anything_without_escapes(shakespeare):
    tok = BPETokenizer.train(shakespeare[:20000], 300)
    model = perturbed_model(model_preset("nano", tok.vocab_size), seed=3)
    text = shakespeare[30000:30400] + " 🙂 日本語 é"
    packed = compress(model, tok, text)
    assert packed.n_escapes == 0 and packed.n_symbols < len(text)  # merges: fewer tokens than characters
    assert decompress(model, tok, packed.data).text == text


def test_the_coder_spends_the_models_own_cross_entropy(nano_model, char_tok, shakespeare):
    """Bits spent = -log2 p under the model's distributions (checked against a plain batched forward), plus a tiny overhead."""
    text = shakespeare[1000:1000 + nano_model.config.block_size - 1]  # one window: primer '\n' + text fits
    packed = compress(nano_model, char_tok, text)
    ids = [char_tok.stoi["\n"]] + char_tok.encode(text)
    with torch.no_grad():
        logits, _ = nano_model(torch.tensor([ids[:-1]]))
    logp = torch.log_softmax(logits[0].double(), -1)
    expected_bits = -sum(float(logp[i, t]) for i, t in enumerate(ids[1:])) / math.log(2)
    escape_bits = sum(-math.log2(1 - (0.5 / (i + 1))) for i in range(len(text)))  # no escapes happened: KT's cost
    assert packed.ideal_bits == pytest.approx(expected_bits + escape_bits, rel=1e-5)
    coded_bits = 8 * packed.payload_bytes
    assert packed.ideal_bits <= coded_bits <= packed.ideal_bits * 1.01 + 64  # range coder: within a word or two


@pytest.mark.parametrize("window", ["slide", "fixed"])
def test_fixed_windows_spend_exactly_the_validation_loss_protocols_cross_entropy(nano_model, char_tok, shakespeare, window):
    """window="fixed" restarts the context every block like eval_windows: its bits equal that loss; "slide" sees more context."""
    T = nano_model.config.block_size
    text = shakespeare[2000 : 2000 + 3 * T]
    packed = compress(nano_model, char_tok, text, window=window)
    assert decompress(nano_model, char_tok, packed.data).text == text
    ids = torch.tensor([char_tok.stoi["\n"]] + char_tok.encode(text))
    x, y = eval_windows(ids, T)  # (3, T): every character predicted once, contexts restarting each window
    with torch.no_grad():
        logits, _ = nano_model(x)
    eval_bits = float(torch.nn.functional.cross_entropy(logits.double().view(-1, logits.size(-1)), y.view(-1), reduction="sum")) / math.log(2)
    kt_bits = sum(-math.log2(1 - 0.5 / (i + 1)) for i in range(len(text)))
    if window == "fixed":
        assert packed.ideal_bits == pytest.approx(eval_bits + kt_bits, rel=1e-5)
    else:
        assert packed.ideal_bits != pytest.approx(eval_bits + kt_bits, rel=1e-5)


def test_a_trained_model_spends_fewer_bits_on_text_like_its_training_text(shakespeare):
    loaded = load_checkpoint(default_checkpoint_path())
    passage = shakespeare[-3000:-2400]  # held out: never trained on
    shuffled = "".join(random.Random(0).sample(passage, len(passage)))  # the same characters, no language
    real = compress(loaded.model, loaded.tokenizer, passage)
    noise = compress(loaded.model, loaded.tokenizer, shuffled)
    assert real.ideal_bits_per_char < 3.0 < 4.0 < noise.ideal_bits_per_char
    assert sum(b for _, b in real.pieces) == pytest.approx(real.ideal_bits)
    assert "".join(p for p, _ in real.pieces) == passage


def test_another_model_cannot_decode_and_says_why(nano_model, char_tok):
    packed = compress(nano_model, char_tok, "to be or not to be", name="nano-a")
    other = perturbed_model(model_preset("nano", char_tok.vocab_size), seed=1)
    with pytest.raises(CompressionError, match="different model"):
        decompress(other, char_tok, packed.data)


@pytest.mark.parametrize(
    "mangle, message",
    [
        (lambda d: b"GZIP" + d[4:], "does not start with 'LLMZ'"),
        (lambda d: d[:10], "does not start|truncated"),
        (lambda d: d[:4] + bytes([9]) + d[5:], "unsupported .llmz version"),
        (lambda d: d[:-2], "whole number of 32-bit words"),
        (lambda d: d[:-4], "checksum|damaged"),
        (lambda d: d[:60] + bytes([d[60] ^ 0x10]) + d[61:], "checksum|damaged"),
        (lambda d: d[:8] + (10**12).to_bytes(8, "little") + d[16:], "impossible|damaged"),
    ],
)
def test_malformed_files_are_refused_with_a_reason(nano_model, char_tok, shakespeare, mangle, message):
    data = compress(nano_model, char_tok, shakespeare[:300]).data
    with pytest.raises(CompressionError, match=message):
        decompress(nano_model, char_tok, mangle(data))


def test_header_records_the_counts(nano_model, char_tok):
    packed = compress(nano_model, char_tok, "ab日", name="my model")
    head = read_header(packed.data)
    assert (head["n_chars"], head["n_symbols"], head["model_name"]) == (3, 3, "my model")
    assert packed.header_bytes == head["payload_offset"]


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "llm_core.compress", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_cli_compresses_and_a_fresh_process_decodes(tmp_path, nano_model, char_tok, shakespeare, capsys):
    save_checkpoint(tmp_path / "nano", nano_model, char_tok)
    text = shakespeare[:600] + "\nemoji 🙂, CJK 日本, accents é\n"
    (tmp_path / "in.txt").write_text(text, encoding="utf-8")
    assert compress_cli(["--text-file", str(tmp_path / "in.txt"), "--model", str(tmp_path / "nano.safetensors"), "--out", str(tmp_path / "in.llmz")]) == 0
    out = capsys.readouterr().out
    for needle in ("gzip -9", "bzip2 -9", "xz -9e", "order-3 count model", "round trip: exact", "characters/s"):
        assert needle in out
    # Decoding in a new Python process: nothing shared with the encoder but the file and the checkpoint.
    dec = run_cli("--decode", str(tmp_path / "in.llmz"), "--out", str(tmp_path / "out.txt"), "--model", str(tmp_path / "nano.safetensors"))
    assert dec.returncode == 0, dec.stderr
    assert (tmp_path / "out.txt").read_bytes() == text.encode("utf-8")


def test_cli_errors_are_messages_not_tracebacks(tmp_path, capsys):
    (tmp_path / "junk.llmz").write_bytes(b"hello, not a compressed file")
    (tmp_path / "bin.txt").write_bytes(b"\x00\x01\x02binary")
    cases = [
        (["--decode", str(tmp_path / "junk.llmz"), "--out", str(tmp_path / "x.txt")], "LLMZ"),
        (["--text-file", str(tmp_path / "bin.txt")], "binary"),
        (["--text-file", str(tmp_path / "missing.txt")], "No such file"),
        (["--decode", str(tmp_path / "junk.llmz")], "needs --out"),
    ]
    for args, message in cases:
        assert compress_cli(args) == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and message in err


def test_classical_compressors_round_trip_and_order_k_learns(shakespeare):
    text = shakespeare[:20000]
    results = classical(text)
    assert [r.name for r in results] == ["gzip -9", "bzip2 -9", "xz -9e"] and all(r.exact for r in results)
    assert all(1.0 < r.bits_per_char < 8.0 for r in results)
    k0, k3 = order_k(text, 0), order_k(text, 3)
    assert k3.bits_per_char < k0.bits_per_char < 8  # context helps
    bits = order_k_bits(text, 2, per_char=True)
    assert len(bits) == len(text) and sum(bits[-1000:]) < sum(bits[:1000])  # it learns as it goes


def test_a_confidently_wrong_model_still_round_trips_with_finite_bits(char_tok, shakespeare):
    """Probabilities that underflow to 0 in fp32 still get the coder's least probability: a finite cost, an exact round trip."""
    model = perturbed_model(model_preset("nano", char_tok.vocab_size), seed=3)
    with torch.no_grad():
        model.head.weight.mul_(40.0)
    text = shakespeare[:300]
    packed = compress(model, char_tok, text)
    assert decompress(model, char_tok, packed.data).text == text
    assert math.isfinite(packed.ideal_bits) and packed.ideal_bits_per_char > 8  # worse than storing the text
    assert max(b for _, b in packed.pieces) <= 24.5
    assert 8 * packed.payload_bytes >= packed.ideal_bits * 0.99


def test_a_model_that_is_not_float32_on_the_cpu_is_coded_through_its_cpu_copy(nano_model, char_tok):
    """A model on a GPU, or in bf16, is copied to float32 on the CPU inside compress(), which runs under inference
    mode: the copy's weights were inference tensors, and the decoder's plan could not read their version (a GPU
    run of the Compression chapter caught the page's "beats gzip" reveal failing this way)."""
    import copy

    text = "ROMEO:\nBut soft, what light through yonder window breaks? 🙂 日本\n"
    low = copy.deepcopy(nano_model).to(torch.bfloat16)  # stands in for a GPU model here: not float32 on the CPU
    packed = compress(low, char_tok, text)
    assert decompress(low, char_tok, packed.data).text == text and packed.n_escapes == 3
    assert packed.data == compress(low, char_tok, text).data  # the same copy, the same bytes
    with torch.inference_mode():
        frozen = copy.deepcopy(nano_model)  # every parameter an inference tensor
    ids = char_tok.encode("ROMEO:")
    from llm_core.model.gpt import KVCache

    cache = KVCache(frozen.config, 1, "cpu")
    logits = [frozen.decode_next(i, cache) for i in ids][-1]
    assert torch.allclose(logits, nano_model(torch.tensor([ids]))[0][0, -1], atol=1e-4)
