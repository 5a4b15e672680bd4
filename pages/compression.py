"""Compression and cost: good prediction is compression (the model as a real lossless compressor),
training as lossy compression ("10 TB into 140 GB"), running a model against training it, and a
cost calculator. Views and sentences: lab_ui/compression_view.py; maths: llm_core/compression."""

import hashlib
import math

import streamlit as st

from lab_ui import charts, course, predict, state, url_state
from lab_ui import compression_figures as figs
from lab_ui import compression_view as view
from lab_ui.shell import ensure_app_shell
from lab_ui.widgets import table_html
from llm_core.compression import costs, running
from llm_core.compression.baselines import classical, order_k
from llm_core.compression.codelength import code_length
from llm_core.compression.coder import CompressionError, compress, decompress, model_fingerprint
from llm_core.literature import value
from llm_core.model.anatomy import human_bytes, weights_file_bytes
from llm_core.model.config import MODEL_PRESETS, model_preset
from llm_core.text.data import VAL_FRACTION, bundled_corpora
from llm_core.training.cost import train_flops_per_token

ensure_app_shell()
MAX_LIVE_CHARS = 5000  # about 3-6 s each way on a busy 2-core machine; the whole held-out split is precomputed below
HELDOUT_CHARS = 20_000  # measured live in one batched pass (llm_core/compression/codelength.py), once per model
entry = state.current()
model, tokenizer, record = entry.model, entry.tokenizer, entry.record
corpus_name = record.get("corpus", "tinyshakespeare")


@st.cache_data(show_spinner=False, max_entries=16)
def _fingerprint(name: str, created: float) -> str:
    e = state.models()[name]
    return model_fingerprint(e.model, e.tokenizer).hex()


@st.cache_data(show_spinner=False, max_entries=16)
def _file_bytes(name: str, created: float) -> int:
    e = state.models()[name]
    return weights_file_bytes(e.model, e.tokenizer, e.meta)


@st.cache_data(show_spinner="Measuring the model on text it never saw…", max_entries=16)
def _heldout_rate(name: str, created: float, fingerprint: str) -> view.HeldOutRate | None:
    """The model's bits per character on held-out text, measured now (or from its record when its corpus is not here)."""
    e = state.models()[name]
    rec = e.record
    if rec.get("corpus", "tinyshakespeare") in bundled_corpora():
        text = state.corpus(rec.get("corpus", "tinyshakespeare"))
        held = text[len(text) - int(len(text) * VAL_FRACTION):][:HELDOUT_CHARS]
        try:
            measured = code_length(e.model, e.tokenizer, held)
        except CompressionError:
            measured = None
        if measured is not None:
            gz = next(r for r in classical(held) if r.name == view.GZIP)
            return view.HeldOutRate(measured.bits_per_char, len(held), gz.bits_per_char,
                                    f"measured now on the first {len(held):,} characters of the held-out {rec.get('corpus', 'tinyshakespeare')} text",
                                    e.model.config.vocab_size if measured.n_tokens == len(held) else 0)
    val, tokens, chars = rec.get("val_loss"), rec.get("tokens_in_corpus"), rec.get("corpus_chars")
    if val and tokens and chars and math.isfinite(val):
        return view.HeldOutRate(val / math.log(2) * tokens / chars, None, None, "from its training record's validation loss on held-out text",
                                e.model.config.vocab_size if tokens == chars else 0)
    return None


def _live_result(text: str, key: str) -> dict | None:
    """The text coded by the model and decoded back, beside the baselines; computed once per (model, text)."""
    found = st.session_state.get("compress_result")
    if found and found["key"] == key:
        return found
    with st.spinner("Coding one token at a time, then decoding back…"):
        try:
            packed = compress(model, tokenizer, text, name=entry.name)
            back = decompress(model, tokenizer, packed.data)
            found = dict(key=key, packed=packed, back=back, baselines=[order_k(text, 3), *classical(text)])
        except (CompressionError, ValueError, RuntimeError) as exc:  # a broken model's probabilities included
            found = dict(key=key, error=str(exc))
    st.session_state["compress_result"] = found
    return found


model_key = (entry.name, 0.0 if entry.shared else entry.created)  # the bundled model: one key for every session
fingerprint = _fingerprint(*model_key)
weights_bytes = _file_bytes(*model_key)
heldout = figs.heldout_result(fingerprint)

course.chapter_intro("compression")
view.idea(entry.name)
view.details_of_the_coder()

st.header("1 · Compress a text with the model")
corpus_text = state.corpus()
excerpt_start = corpus_text.index("\n\n", len(corpus_text) - 20000) + 2  # a speech's start in the held-out split
default_text = corpus_text[excerpt_start : excerpt_start + 1500] if corpus_name == "tinyshakespeare" else ""
text = url_state.text_box(st.text_area, f"Text to compress (at most {MAX_LIVE_CHARS:,} characters; anything goes, emoji included)", "compress_text",
                          default_text, max_chars=MAX_LIVE_CHARS, height=160)
key = hashlib.sha256(f"{fingerprint}\0{text}".encode()).hexdigest()
result = _live_result(text, key) if text and predict.made("compression_beats_gzip") else None
predict.checkpoint(
    "compression_beats_gzip",
    f"Who stores this text in fewer bytes: the model (*{entry.name}*) with a range coder, or gzip, the everyday compressor?",
    predict.choice(view.BEATS_GZIP_CHOICES),
    lambda guess: view.beats_gzip_reveal(guess, result, corpus_name),
    pending=result["error"] if result and "error" in result else "Type or paste a text above: the answer comes from compressing it with both.",
)
if result and "packed" in result:
    view.show_live_result(result, text, entry.name)
elif not predict.made("compression_beats_gzip"):
    st.caption("Lock in your guess: the model then codes this text, decodes it back to check nothing was lost, and sets it beside gzip, "
               "bzip2, xz and a count model.")

st.subheader("On text it never saw: bits per character")
rate = None
if heldout:  # the whole held-out split, coded for real: the figure the chart below shows, so reveal, chart and sums agree
    rate = view.HeldOutRate(heldout["bits_per_char"], heldout["n_chars"],
                            next((b["bits_per_char"] for b in heldout["baselines"] if b["name"] == view.GZIP), None),
                            f"coded for real on all {heldout['n_chars']:,} characters of the held-out {heldout['corpus']} text",
                            model.config.vocab_size if tokenizer.kind == "char" else 0)
elif predict.made("compression_bits_per_char") or predict.made("compression_description_length"):
    rate = _heldout_rate(*model_key, fingerprint)
predict.checkpoint(
    "compression_bits_per_char",
    f"Plain text takes 8 bits (one byte) per character. How many bits per character does *{entry.name}* need on {corpus_name} text held out from its training?",
    predict.choice([b[0] for b in view.BITS_BANDS]),
    lambda guess: view.bits_reveal(guess, rate),
    pending="This model has no held-out text here and no recorded validation loss to measure it by.",
)
if heldout and predict.made("compression_bits_per_char"):
    view.show_heldout_file(heldout, entry.name)
elif predict.made("compression_bits_per_char"):
    st.caption("The whole held-out split, coded for real, is precomputed for the bundled model only. For this one, save it and run "
               "`python -m benchmarks.compression --model PATH` (minutes: one model step per token).")

st.header("2 · Lossy vs lossless: the weights count too")
corpus_bytes = record.get("corpus_chars") or len(state.corpus())
predict.checkpoint(
    "compression_description_length",
    f"As a lossless compressor of its own {human_bytes(corpus_bytes)} training text, the model must ship its weights file too. "
    "Would weights + coded text take less room than the text itself?",
    predict.choice(view.DESCRIPTION_CHOICES),
    lambda guess: view.description_reveal(guess, weights_bytes, corpus_bytes, rate, corpus_name),
    pending="The model's rate on held-out text cannot be measured here, so the sum cannot be made.",
)
left, right = st.columns(2)
with left:
    st.markdown(f"**This model** on its {human_bytes(corpus_bytes)} training text")
    if not predict.made("compression_description_length"):
        st.caption("Make your guess above to see this model's sums.")
    elif rate is None or not math.isfinite(rate.bits_per_char):
        st.info("This model's rate on held-out text could not be measured, so the sums cannot be made.")
    else:
        refs = heldout["baselines"] if heldout else ([dict(name=view.GZIP, bits_per_char=rate.gzip_bits_per_char)] if rate.gzip_bits_per_char else [])
        best = min(((b["name"], b["bits_per_char"]) for b in refs), key=lambda b: b[1], default=None)
        st.markdown(table_html(figs.description_rows(weights_bytes, corpus_bytes, rate.bits_per_char / 8, {best[0]: best[1] / 8} if best else {})),
                    unsafe_allow_html=True)
        st.caption(view.description_sentence(weights_bytes, corpus_bytes, rate.bits_per_char, rate.where, best) + " (Break-even = weights / bytes saved per byte of text.)")
with right:
    view.show_llama_description()

st.subheader("What 'lossy' means: does it recite its training text?")
mem = heldout.get("memorization") if heldout else None
if mem:
    view.show_memorisation(mem)
else:
    st.caption("The memorisation scan is precomputed for the bundled model (`python -m benchmarks.compression --write-asset`).")

st.header("3 · Running a model against training it")
view.show_running_intro()
ours = running.for_config(entry.name, model.config, record.get("tokens_seen"))
llama = running.llama2_70b()
predict.checkpoint(
    "compression_run_vs_train",
    (f"Training *{entry.name}* went through {record['tokens_seen']:,} tokens of text. " if record.get("tokens_seen") else "")
    + "Generating how many tokens would cost the same compute as the model's whole training run?",
    predict.choice([c[0] for c in view.RUN_CHOICES], horizontal=False),
    lambda guess: view.run_vs_train_reveal(guess, ours, llama),
    pending="This model has no record of the tokens it was trained on: train one on the Train a model page.",
)
if predict.made("compression_run_vs_train"):
    view.show_running([ours, llama])

st.header("4 · Size classes and what they cost")
st.markdown("Pick a size class or type any parameter count. Every figure in the table below is computed from these inputs, with its "
            "source; the check against Llama 2 70B's published figures and the chart after it stay as they are.")
classes = {f"{entry.name} (current model)": costs.size_class_for_config(entry.name, model.config, record.get("tokens_seen"))}
classes |= {f"LLM Lab preset: {p}": costs.size_class_for_config(p, model_preset(p, model.config.vocab_size)) for p in MODEL_PRESETS}
classes |= {c.name: c for c in costs.SIZE_CLASSES}


def _pick_class():
    cls = classes[st.session_state["cost_class"]]
    st.session_state["cost_params_m"] = cls.params / 1e6
    st.session_state["cost_tokens_b"] = (cls.tokens or costs.CHINCHILLA_TOKENS_PER_PARAM * cls.params) / 1e9


names = list(classes)
choice = st.selectbox("Size class", names, index=names.index("Llama 2 70B"), key="cost_class", on_change=_pick_class)
if "cost_params_m" not in st.session_state:
    _pick_class()
cls = classes[choice]
c1, c2, c3 = st.columns(3)
params = c1.number_input("Parameters (millions)", min_value=0.001, max_value=1e8, step=1.0, format="%.3f", key="cost_params_m") * 1e6
tokens = c2.number_input("Training tokens (billions)", min_value=1e-6, max_value=1e6, step=1.0, format="%.4f", key="cost_tokens_b") * 1e9
context = c3.number_input("Context for the KV cache (tokens)", min_value=1, max_value=1_000_000, value=4096, step=1024, key="cost_context", bind="query-params")
c4, c5, c6, c7 = st.columns(4)
gpu = costs.GPUS[c4.selectbox("GPU", list(costs.GPUS), index=1, key="cost_gpu", bind="query-params")]
check = costs.llama2_70b_check()
assumed_price = value("talk_cost") / check.paper_gpu_hours  # the talk's cost over the paper's hours: an assumed price, not a published one
utilisation = c5.slider("Utilisation of peak (%)", 5.0, 80.0, round(100 * check.utilisation_paper, 1), 0.5, key="cost_util", bind="query-params") / 100
n_gpus = c6.number_input("GPUs", min_value=1, max_value=1_000_000, value=int(value("talk_gpus")), step=100, key="cost_gpus", bind="query-params")
price = c7.number_input("Price per GPU-hour ($)", min_value=0.0, max_value=100.0, value=round(assumed_price, 2), step=0.1, key="cost_price", bind="query-params")
est = costs.estimate(params, tokens, gpu, utilisation, n_gpus, price)
shape_cls = cls if abs(cls.params - params) < 1e-6 * params else costs.SizeClass("custom", params)
st.markdown(table_html(view.calculator_rows(est, shape_cls, int(context), assumed_price)), unsafe_allow_html=True)
st.caption((f"Size class source: {cls.source}." if shape_cls is cls else f"Your own parameter count (not {cls.name}'s): its shape is estimated.")
           + " The KV cache (keys and values kept for every earlier token) is taught in the Generate chapter.")

with st.expander("Check: Llama 2 70B against its published figures", expanded=True):
    st.markdown(table_html(view.llama_check_rows(check, assumed_price)), unsafe_allow_html=True)

our_flops = train_flops_per_token(model.config) * record["tokens_seen"] if record.get("tokens_seen") else None
if our_flops:
    rows = figs.compute_rows(f"{entry.name} (yours)", our_flops, record.get("elapsed_s"))
    charts.chart(figs.compute_chart(rows), key="cost_chart", caption=figs.compute_caption(rows),
                 table=[{"model": r["name"], "training compute (FLOPs)": f"{r['flops']:.3g}", "how": r["note"]} for r in rows])

course.chapter_end("compression")
