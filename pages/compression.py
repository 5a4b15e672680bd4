"""Compression and cost: the model as a real lossless compressor, "10 TB into 140 GB", and a cost calculator."""

import hashlib

import streamlit as st

from lab_ui import compression_figures as figs
from lab_ui import course, state, url_state
from lab_ui.shell import ensure_app_shell
from lab_ui.widgets import table_html
from llm_core.compression import costs
from llm_core.compression.baselines import classical, order_k
from llm_core.compression.coder import CompressionError, compress, decompress, model_fingerprint
from llm_core.model.anatomy import human_bytes, weights_file_bytes
from llm_core.model.config import MODEL_PRESETS, model_preset
from llm_core.training.cost import train_flops_per_token

ensure_app_shell()
MAX_LIVE_CHARS = 5000  # about 3-6 s each way on a busy 2-core machine; the whole held-out split is precomputed below
entry = state.current()
model, tokenizer, record = entry.model, entry.tokenizer, entry.record


@st.cache_data(show_spinner=False, max_entries=16)
def _fingerprint(name: str, created: float) -> str:
    e = state.models()[name]
    return model_fingerprint(e.model, e.tokenizer).hex()


@st.cache_data(show_spinner=False, max_entries=16)
def _file_bytes(name: str, created: float) -> int:
    e = state.models()[name]
    return weights_file_bytes(e.model, e.tokenizer, e.meta)


fingerprint = _fingerprint(entry.name, entry.created)
weights_bytes = _file_bytes(entry.name, entry.created)
heldout = figs.heldout_result(fingerprint)

course.chapter_intro("compression")
st.markdown(
    "A next-token predictor is a compressor. If the model gives the character that really comes next a "
    "probability *p*, an **arithmetic (range) coder** can store that character in about **-log₂ p bits**; "
    "a decoder that runs the same model gets the same probabilities and reads the text back exactly. So "
    "the model's cross-entropy *is* a compressed size, one you can check by decompressing "
    "(Delétang et al. 2023, *Language Modeling Is Compression*). Below, the current model "
    f"(*{entry.name}*) compresses real text with a range coder, beside gzip, bzip2, xz and the simplest "
    "language model there is: counting which character followed the last three."
)

st.header("1 · Compress a text with the model")
corpus_text = state.corpus()
excerpt_start = corpus_text.index("\n\n", len(corpus_text) - 20000) + 2  # a speech's start in the held-out split
default_text = corpus_text[excerpt_start : excerpt_start + 1500] if record.get("corpus", "tinyshakespeare") == "tinyshakespeare" else ""
text = url_state.text_box(st.text_area, f"Text to compress (at most {MAX_LIVE_CHARS:,} characters; anything goes, emoji included)", "compress_text",
                          default_text, max_chars=MAX_LIVE_CHARS, height=160)
key = hashlib.sha256(f"{fingerprint}\0{text}".encode()).hexdigest()
if st.button("Compress and decompress", type="primary", key="compress_go"):
    with st.spinner("Coding one token at a time, then decoding back…"):
        try:
            packed = compress(model, tokenizer, text, name=entry.name)
            back = decompress(model, tokenizer, packed.data)
            st.session_state["compress_result"] = dict(key=key, packed=packed, back=back, baselines=[order_k(text, 3), *classical(text)])
        except CompressionError as exc:
            st.session_state.pop("compress_result", None)
            st.error(f"Cannot compress this text: {exc}")
result = st.session_state.get("compress_result")
if result and result["key"] == key:
    packed, back = result["packed"], result["back"]
    n = max(1, len(text))
    row = lambda method, size, exact: {"method": method, "bytes": f"{size:,}", "bits per character": f"{8 * size / n:.3f}", "round trip": exact}
    rows = [row(f"model ({entry.name}) + range coder", len(packed.data), "exact" if back.text == text else "NOT exact")]
    rows += [row(r.name, r.size_bytes, "exact" if r.exact else "NOT exact") for r in result["baselines"]]
    st.markdown(table_html([row("the text (UTF-8)", len(text.encode()), "")] + rows), unsafe_allow_html=True)
    if back.text == text:
        st.success(f"Round trip exact: the .llmz file decoded back to all {len(text):,} characters, identical to your text (SHA-256 checked).", icon=":material/check_circle:")
    else:
        st.error("The round trip was not exact.")
    st.caption(
        f"The model's file: {packed.header_bytes} bytes of header + {packed.payload_bytes:,} bytes of coded text. Its ideal code length "
        f"(the sum of -log₂ p) is {packed.ideal_bits_per_char:.3f} bits per character; the range coder spent {packed.payload_bits_per_char:.3f} "
        f"(on a short text the coder's last word and the header weigh more). {packed.n_escapes:,} character(s) outside the model's vocabulary "
        f"were coded with an escape. Speed on this machine: encoded at {packed.chars_per_s:,.0f} and decoded at {back.chars_per_s:,.0f} "
        "characters per second: one model step per token, on one thread, in fp32, the same way on both sides, or the decoder would "
        "drift from the encoder's probabilities. The order-3 size is its ideal code length."
    )
    st.plotly_chart(figs.bits_figure([(r["method"], float(r["bits per character"])) for r in rows], "On your text"), key="compress_bars")
    st.download_button("Download the compressed file (.llmz)", packed.data, file_name="text.llmz", mime="application/octet-stream", key="compress_dl")
    st.subheader("Where the model spent its bits")
    st.markdown(figs.legend_html() + figs.bits_html(packed.pieces), unsafe_allow_html=True)
    st.caption("Hover a character to see its cost. The most surprising ones:")
    st.markdown(table_html(figs.surprises(packed.pieces)), unsafe_allow_html=True)
elif text:
    st.info("Press **Compress and decompress** to code this text with the model and check the round trip.")

st.subheader("On the whole held-out split")
if heldout:
    rows = [(f"model ({heldout['model']})", heldout["bits_per_char"])] + [(b["name"], b["bits_per_char"]) for b in heldout["baselines"]]
    st.plotly_chart(figs.bits_figure(rows, f"The held-out {heldout['n_chars']:,} characters of {heldout['corpus']}"), key="heldout_bars")
    notes = [
        f"Round trip {'exact' if heldout['exact'] else 'NOT exact'}. The file holds {heldout['file_bytes']:,} bytes: {heldout['bits_per_char']:.4f} bits per character, "
        f"against an ideal code length of {heldout['ideal_bits_per_char']:.4f} (range coder overhead {100 * heldout['coder_overhead']:.3f}%)."
    ]
    measured = heldout.get("measured_bits_per_char")
    if measured:
        notes.append(f"The model's validation loss is {measured:.4f} bits per character; this file is {100 * (heldout['bits_per_char'] / measured - 1):+.2f}% from it, "
                     "as the coder slides its context by half a window and so gives each character more context than the loss's fixed windows.")
        if "fixed_window" in heldout:
            fixed = heldout["fixed_window"]["bits_per_char"]
            notes.append(f"Coded with fixed windows like the loss (`--window fixed`): {fixed:.4f}, {100 * (fixed / measured - 1):+.2f}% from it.")
    notes.append(f"Encoded at {heldout['encode_chars_per_s']:,.0f} and decoded at {heldout['decode_chars_per_s']:,.0f} characters per second, load average "
                 f"{heldout['loadavg'][0]:.1f} on 2 cores ({heldout['measured_at']}); made with `{heldout['command']}`.")
    st.caption(" ".join(notes))
else:
    st.caption("Precomputed for the bundled model only. For this one, save it and run `python -m benchmarks.compression --model PATH` (minutes: one model step per token).")

st.header("2 · Lossy vs lossless")
live = result if result and result["key"] == key and text else None
if heldout:
    rate_bpc, rate_source, refs = heldout["bits_per_char"], "on the held-out split", heldout["baselines"]
elif live:
    rate_bpc, rate_source = live["packed"].bits_per_char, "on your text above"
    refs = [dict(name=r.name, bits_per_char=r.bits_per_char) for r in live["baselines"]]
else:
    rate_bpc, rate_source, refs = None, "", []
corpus_bytes = record.get("corpus_chars") or len(state.corpus())
left, right = st.columns(2)
with left:
    st.markdown(f"**This model** on its {human_bytes(corpus_bytes)} training corpus")
    if rate_bpc is None:
        st.info("Compress a text above to measure this model's rate; the description length follows from it.")
    else:
        best_ref = min(refs, key=lambda b: b["bits_per_char"])
        ours = costs.DescriptionLength(weights_bytes, corpus_bytes, rate_bpc / 8, 1.0)
        vs_best = costs.DescriptionLength(weights_bytes, corpus_bytes, rate_bpc / 8, best_ref["bits_per_char"] / 8)
        st.markdown(table_html(figs.description_rows(weights_bytes, corpus_bytes, rate_bpc / 8, {best_ref["name"]: best_ref["bits_per_char"] / 8})), unsafe_allow_html=True)
        beats = "never, as the model codes worse than it" if vs_best.break_even_bytes == float("inf") else f"once it exceeds {human_bytes(vs_best.break_even_bytes)}"
        st.caption(
            f"At the rate measured {rate_source} ({rate_bpc:.2f} bits per character), counting its weights the model's lossless description of its "
            f"corpus is {'smaller' if ours.total_bytes < corpus_bytes else 'larger'} than the text itself. It pays off against storing the text "
            f"once the text exceeds {human_bytes(ours.break_even_bytes)}, and against {best_ref['name']} {beats} "
            "(break-even = weights / bytes saved per byte of text)."
        )
with right:
    llama_ours = costs.DescriptionLength(costs.TALK["weights_bytes"], costs.TALK["text_bytes"], costs.DELETANG["chinchilla_70b"], 1.0)
    llama_gzip = costs.DescriptionLength(costs.TALK["weights_bytes"], costs.TALK["text_bytes"], costs.DELETANG["chinchilla_70b"], costs.DELETANG["gzip"])
    st.markdown(f"**Llama 2 70B** on about {human_bytes(costs.TALK['text_bytes'])} of text")
    st.markdown(table_html(figs.description_rows(llama_ours.weights_bytes, llama_ours.text_bytes, llama_ours.coded_rate, {"gzip": costs.DELETANG["gzip"]}, "byte")), unsafe_allow_html=True)
    st.caption(
        f"The {human_bytes(costs.TALK['weights_bytes'])} file alone is {costs.TALK['text_bytes'] / costs.TALK['weights_bytes']:.0f}x smaller than the text: that is the lossy "
        f"compression described in {costs.TALK['source']}. Coded losslessly at the {costs.DELETANG['chinchilla_70b']:.1%} of its raw size that {costs.DELETANG['model']} "
        f"reaches on {costs.DELETANG['dataset']} (another model of that size on another text: an assumption borrowed from {costs.DELETANG['source']}; gzip gets "
        f"{costs.DELETANG['gzip']:.1%} there), weights + coded text come to {human_bytes(llama_ours.total_bytes)}; break-even against "
        f"gzip at {human_bytes(llama_gzip.break_even_bytes)} of text, {costs.TALK['text_bytes'] / llama_gzip.break_even_bytes:.0f}x less than it was trained on."
    )

st.subheader("What 'lossy' means: does it recite its training text?")
mem = heldout.get("memorization") if heldout else None
if mem:
    best, typical = mem["recited"][0], mem["typical"]
    st.markdown(
        f"Greedy decoding follows the text only while the model's top guess is right. Over {mem['scanned_chars']:,} characters of its "
        f"training text, the top guess was right {100 * mem['top1_train']:.1f}% of the time ({100 * mem['top1_val']:.1f}% on held-out text it "
        f"never saw); prompted anywhere, it stays on the real text for {mem['mean_run_train']:.2f} characters on average "
        f"({mem['mean_run_val']:.2f} held out). The longest passage it recites is {mem['longest_run_train']} characters "
        f"({mem['longest_run_val']} on held-out text). It fits what it saw a little better ({mem['mean_run_train'] / max(mem['mean_run_val'], 1e-9):.1f}x "
        f"as far on training text), but greedy prompting gets no passage longer than {mem['longest_run_train']} characters back out of its weights."
    )
    c1, c2 = st.columns(2)
    shown = ((c1, best, f"Its longest recital: {best['matched_chars']} characters right"),
             (c2, typical, f"A typical prompt: {typical['matched_chars']} characters right, then its own text"))
    for col, probe, title in shown:
        with col.container(border=True):
            st.markdown(f"**{title}**")
            st.caption("Prompt (from the training text), then the real text and the model's greedy continuation:")
            st.code(probe["prompt"][-64:], language=None)
            st.text("real:  " + probe["truth"].replace("\n", "↵"))
            st.text("model: " + probe["output"].replace("\n", "↵"))
    st.caption("Large models do recite: Carlini et al. 2021 extracted verbatim training text from GPT-2; a model that stored all its data "
               "would be a lossless copy. Computed by `python -m benchmarks.compression --write-asset`.")
else:
    st.caption("The memorization scan is precomputed for the bundled model (`python -m benchmarks.compression --write-asset`).")

st.header("3 · Size classes and what they cost")
st.markdown("Pick a size class or type any parameter count. Every figure below is computed from it, with its source.")
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
utilisation = c5.slider("Utilisation of peak (%)", 5.0, 80.0, round(100 * check.utilisation_paper, 1), 0.5, key="cost_util", bind="query-params") / 100
n_gpus = c6.number_input("GPUs", min_value=1, max_value=1_000_000, value=costs.TALK["gpus"], step=100, key="cost_gpus", bind="query-params")
price = c7.number_input("Price per GPU-hour ($)", min_value=0.0, max_value=100.0, value=round(check.talk_price_per_gpu_hour, 2), step=0.1, key="cost_price", bind="query-params")
est = costs.estimate(params, tokens, gpu, utilisation, n_gpus, price)
shape_cls = cls if abs(cls.params - params) < 1e-6 * params else costs.SizeClass("custom", params)
per = costs.BYTES_PER_PARAM
rows = [{"figure": f"weights file, {p}", "value": human_bytes(costs.weights_bytes(params, p)), "how": f"{per[p]:g} byte{'' if per[p] == 1 else 's'} per parameter"} for p in per]
for p in ("bf16", "int4"):
    w, kv = costs.run_memory_bytes(shape_cls, p, int(context))
    how = "published shape" if shape_cls.n_layer else "shape estimated: parameters ~ 12 x layers x width², width = 128 x layers"
    rows.append({"figure": f"memory to run, {p} weights, {int(context):,}-token KV cache", "value": human_bytes(w + kv),
                 "how": f"weights {human_bytes(w)} + KV cache {human_bytes(kv)} (16-bit keys and values; {how})"})
rows += [
    {"figure": "training compute", "value": f"{est.train_flops:.3g} FLOPs", "how": "6 x parameters x tokens (Kaplan et al. 2020)"},
    {"figure": f"GPU-hours on {gpu.name}", "value": f"{est.gpu_hours:,.0f}", "how": f"at {100 * utilisation:.1f}% of {gpu.peak_flops / 1e12:,.0f} TFLOP/s ({gpu.source})"},
    {"figure": f"days on {int(n_gpus):,} GPUs", "value": f"{est.days:,.2f}", "how": "GPU-hours / GPUs / 24"},
    {"figure": "cost", "value": f"${est.cost:,.0f}", "how": f"GPU-hours x ${price:.2f} (default: the talk's ~${costs.TALK['cost'] / 1e6:.0f}M over the paper's A100-hours, an assumed price)"},
]
st.markdown(table_html(rows), unsafe_allow_html=True)
st.caption(f"Size class source: {cls.source}.")

st.subheader("Worked example: Llama 2 70B against its published figures")
st.markdown(table_html([
    {"": "training compute", "calculator": f"{check.flops:.2e} FLOPs (6 x {check.params:.0e} x {check.tokens:.0e})", "published": f"{check.tokens / 1e12:.1f}T tokens", "source": costs.LLAMA2_SOURCE},
    {"": "A100 GPU-hours", "calculator": f"{check.talk_gpu_hours:,.0f} from the talk's {costs.TALK['gpus']:,} GPUs x {costs.TALK['days']:.0f} days, "
                                    f"{100 * (check.talk_gpu_hours / check.paper_gpu_hours - 1):+.1f}% from the paper",
     "published": f"{check.paper_gpu_hours:,.0f}", "source": costs.LLAMA2_SOURCE},
    {"": "implied utilisation", "calculator": f"{100 * check.utilisation_paper:.1f}% of {costs.GPUS['A100'].peak_flops / 1e12:.0f} TFLOP/s (paper's hours), "
                                         f"{100 * check.utilisation_talk:.1f}% (talk's)",
     "published": "not stated", "source": "computed: 6ND / (GPU-hours x peak)"},
    {"": f"time on {costs.TALK['gpus']:,} GPUs", "calculator": f"{check.days_on_talk_gpus:.1f} days", "published": f"about {costs.TALK['days']:.0f} days",
     "source": costs.TALK["source"]},
    {"": "cost", "calculator": check.cost_reading, "published": f"about ${costs.TALK['cost'] / 1e6:.0f}M", "source": costs.TALK["source"]},
    {"": "weights file", "calculator": f"{human_bytes(costs.weights_bytes(check.params, 'bf16'))} (bf16)", "published": human_bytes(costs.TALK["weights_bytes"]), "source": costs.TALK["source"]},
]), unsafe_allow_html=True)

our_flops = train_flops_per_token(model.config) * record["tokens_seen"] if record.get("tokens_seen") else None
if our_flops:
    st.plotly_chart(figs.compute_chart(figs.compute_rows(f"{entry.name} (yours)", our_flops, record.get("elapsed_s"))), key="cost_chart")
    st.caption(f"Your model: {our_flops:.2e} FLOPs, {record.get('elapsed_s', 0):.0f} s of training here. Llama 2 70B took {check.flops / our_flops:.1e} times as much compute.")

course.chapter_end("compression")
