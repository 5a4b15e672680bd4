"""Training: pick data and a model size, press Train, watch the loss fall and the samples improve."""

import hashlib
import math
import os
import time
from functools import partial

import plotly.graph_objects as go
import streamlit as st

from lab_ui import jobs, state
from lab_ui.shell import ensure_app_shell
from lab_ui.widgets import ROOT, page_link
from llm_core.model import anatomy
from llm_core.model.checkpoint import (
    CheckpointError,
    checkpoint_bytes,
    load_checkpoint_bytes,
)
from llm_core.model.config import (
    MODEL_PRESETS,
    TRAIN_PRESETS,
    ConfigError,
    ModelConfig,
    TrainConfig,
)
from llm_core.text.data import (
    DataError,
    bundled_corpora,
    check_trainable,
    text_from_bytes,
)
from llm_core.training.cost import calibrate, estimate_step_seconds, train_memory_bytes
from llm_core.training.loop import lr_scale
from llm_core.training.training_run import (
    FINAL_EVAL_TOKENS,
    TrainingRun,
    prepare_corpus,
)

ensure_app_shell()  # a deep link to this page on a fresh server must still get app.py's shell

JOB_KEY = "training"
RUN_KEY = "tr_run"  # the TrainingRun behind the job: model, TrainState (for Resume), corpus
RESULT_KEY = "tr_result"  # (registered name, TrainedModel) of the last segment that ended
MESSAGE_KEY = "tr_message"  # a start-up refusal to show once
LR_CHOICES = [1e-4, 3e-4, 1e-3, 2e-3, 4e-3, 8e-3, 1.5e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0]
BATCH_CHOICES = [1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 128]
WIDTH_CHOICES = [16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768]
CONTEXT_CHOICES = [8, 16, 32, 64, 128, 256, 512]
EVAL_CHOICES = [20, 50, 100, 200, 300, 500, 1000]
CALIBRATION_TTL_S = 900
STATUS_POLL_S = float(os.environ.get("LLM_LAB_STATUS_POLL_S", 1.0))  # progress, step, losses: every second
CHART_POLL_S = float(os.environ.get("LLM_LAB_CHART_POLL_S", 3.0))  # charts and samples: each poll costs the training thread (9.6 vs 7.5 steps/s against 0.5 s + 1.5 s)
MAX_MEMORY = 4 * 2**30 if state.device().type == "cpu" else 40 * 2**30
NEXT_CHAPTERS = [
    ("pages/attention.py", "See its attention", ":material/visibility:"),
    ("pages/generation.py", "Generate with it", ":material/casino:"),
    ("pages/embeddings.py", "Its embeddings", ":material/scatter_plot:"),
    ("pages/overview.py", "Overview", ":material/explore:"),
]
PRESET_HELP = {"nano": "2 layers, trains in seconds", "tiny": "4 layers, the bundled model's size", "small": "6 layers, about 10M parameters: for a GPU or a patient CPU"}
DEFAULTS = dict(
    tr_source="Bundled corpus", tr_bundled="tinyshakespeare", tr_paste="", tr_tokenizer="Characters", tr_bpe_vocab=512,
    tr_preset="tiny", tr_layers=4, tr_heads=4, tr_width=128, tr_context=128, tr_position="rotary",
    tr_lr=4e-3, tr_batch=16, tr_until="seconds", tr_seconds=60, tr_steps=3000, tr_seed=1337, tr_eval_every=200,
    tr_xaxis="steps", tr_logy=False,
)


# Controls keep their values when the user visits another chapter (persist_state="session" on each widget).
for key, default in DEFAULTS.items():
    st.session_state.setdefault(key, default)


def apply_preset() -> None:
    name = st.session_state.tr_preset
    m, t = MODEL_PRESETS[name], TRAIN_PRESETS[name]
    st.session_state.update(tr_layers=m["n_layer"], tr_heads=m["n_head"], tr_width=m["n_embd"], tr_context=m["block_size"])
    st.session_state.update(tr_lr=t.get("lr", TrainConfig.lr), tr_batch=t["batch_size"], tr_steps=t["max_steps"])


# --- cached work (shared by every session: read-only objects) ---

@st.cache_resource(show_spinner="Tokenizing the corpus…", max_entries=4, ttl=3600)  # a 20 MB corpus holds 160 MB of token ids
def prepared(digest: str, kind: str, bpe_vocab: int, name: str, _text: str):
    return prepare_corpus(_text, name, kind, bpe_vocab)


@st.cache_resource(show_spinner=False)
def calibration_store() -> dict:
    return {}


def calibration():
    """This machine's speed, measured with a few real steps; re-measured every 15 min when nothing trains."""
    store = calibration_store()
    stale = time.monotonic() - store.get("at", -1e9) > CALIBRATION_TTL_S
    if "value" not in store or (stale and jobs.gate().running == 0):
        with st.spinner("Measuring this machine's speed (a few training steps)…"):
            store.update(value=calibrate(state.device()), at=time.monotonic())
    return store["value"]


@st.cache_data(show_spinner=False, max_entries=4)
def model_files(name: str, created: float):
    entry = state.models().get(name)
    if entry is None:
        return None
    return checkpoint_bytes(entry.model, entry.tokenizer, entry.record)


def register_trained(run: TrainingRun, job, snap) -> None:
    """Runs in the script thread when a training segment ends (called by lab_ui.jobs.collect)."""
    result = job.result
    if result is None:
        st.session_state[RESULT_KEY] = None
        return
    name = state.add_model(f"{run.name} · {result.record['steps']:,} steps", result.model, result.tokenizer, result.meta, source="trained")
    st.session_state[RESULT_KEY] = (name, result)


def start_training(corpus, model_config: ModelConfig, train_config: TrainConfig) -> None:
    job = jobs.get(JOB_KEY)
    if job is not None and job.snapshot().active:
        return  # a double click: the run is already going
    try:
        run = TrainingRun(corpus, model_config, train_config, device=state.device())
    except (ConfigError, DataError, ValueError) as exc:
        st.session_state[MESSAGE_KEY] = str(exc)
        return
    job = run.make_job(gate=jobs.gate(), time_cap_s=jobs.time_cap_s(), idle_timeout_s=jobs.IDLE_TIMEOUT_S)
    jobs.track(JOB_KEY, job, f"Training {run.name}", "pages/training.py", partial(register_trained, run))  # collects the previous run first
    st.session_state[RUN_KEY] = run
    st.session_state[RESULT_KEY] = None
    job.start()


def stop_training() -> None:
    job = jobs.get(JOB_KEY)
    if job is not None:
        job.stop()


def resume_training() -> None:
    job, run = jobs.get(JOB_KEY), st.session_state.get(RUN_KEY)
    if job is not None and run is not None and not job.snapshot().active and run.can_resume():
        job.start()


def fmt_seconds(s: float) -> str:
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 120:
        return f"{s:.1f} s"
    return f"{s / 60:.1f} min"


# ======================================================================================
st.title("Train a model")
st.markdown(
    "Pick some text and a model size, press **Train**, and watch a transformer learn to predict the next "
    "token: the loss falls and the generated text turns from noise into something like the corpus. "
    "Training runs in the background: you can visit other chapters and come back."
)
jobs.collect()  # the sidebar does this on every page; again here so the page stands on its own (AppTest runs it alone)
job = jobs.get(JOB_KEY)
snap_now = job.snapshot() if job is not None else None
busy = snap_now is not None and snap_now.active

# --- 1 · Data ---------------------------------------------------------------------------
st.header("1 · Data")
problems: list[str] = []  # anything that keeps Train off; each is shown in the section it belongs to


def show_problems(since: int) -> None:
    for problem in problems[since:]:
        st.warning(problem)


text, corpus_name = None, None
left, right = st.columns([1, 1])
with left:
    source = st.radio("Text to learn from", ["Bundled corpus", "Paste text", "Upload a .txt file"], key="tr_source", persist_state="session", horizontal=True)
    if source == "Bundled corpus":
        names = list(bundled_corpora())
        if st.session_state.tr_bundled not in names:
            st.session_state.tr_bundled = names[0]
        corpus_name = st.selectbox("Corpus", names, key="tr_bundled", persist_state="session")
        text = state.corpus(corpus_name)
    elif source == "Paste text":
        text = st.text_area("Your text", key="tr_paste", persist_state="session", height=180, max_chars=2_000_000, placeholder="Paste a few thousand characters or more…")
        corpus_name = "pasted text"
        if not text.strip():
            problems.append("Paste some text to train on (the more, the better: a few hundred thousand characters is good).")
            text = None
    else:
        upload = st.file_uploader("A UTF-8 text file", type=["txt"], key="tr_upload", help="Up to 20 MB of text.")
        if upload is not None:
            try:
                uploaded = text_from_bytes(upload.getvalue())
                st.session_state.tr_uploaded = (upload.name, uploaded)
            except DataError as exc:
                st.session_state.pop("tr_uploaded", None)
                problems.append(f"**{upload.name}** cannot be used: {exc}")
        kept = st.session_state.get("tr_uploaded")
        if kept is not None:
            corpus_name, text = kept
            if upload is None:
                st.caption(f"Using your earlier upload, **{corpus_name}**. Upload another file to replace it.")
        elif upload is None:
            problems.append("Upload a .txt file to train on.")
with right:
    kind = st.radio(
        "Tokenizer", ["Characters", "BPE"], key="tr_tokenizer", persist_state="session", horizontal=True,
        help="Characters: one token per character. BPE: LLM Lab's byte-level BPE, trained on this corpus (see the Tokenization chapter).",
    )
    if kind == "BPE":
        st.slider("BPE vocabulary size", 260, 4096, key="tr_bpe_vocab", persist_state="session", step=4, help="256 byte tokens plus this many minus 256 learned merges.")

corpus = None
if text is not None:
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()
    try:
        corpus = prepared(digest, "char" if kind == "Characters" else "bpe", int(st.session_state.tr_bpe_vocab), corpus_name, text)
    except DataError as exc:
        problems.append(str(exc).capitalize())
show_problems(0)
if corpus is not None:
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Characters", f"{corpus.n_chars:,}")
    c2.metric("Tokens", f"{corpus.n_tokens:,}", help=f"{corpus.tokenizer.vocab_size:,} distinct tokens ({corpus.tokenizer.kind})")
    c3.metric("Training split", f"{len(corpus.split.train):,}", help="The first 90% of the tokens: the model learns from these.")
    c4.metric("Held-out split", f"{len(corpus.split.val):,}", help="The last 10%: never trained on, used to measure the val loss.")
    with st.expander("Preview", expanded=False):
        st.code(corpus.text[:800] + ("…" if corpus.n_chars > 800 else ""), language=None, wrap_lines=True)

# --- 2 · Model --------------------------------------------------------------------------
st.header("2 · Model")
model_problems_from = len(problems)
vocab_size = corpus.tokenizer.vocab_size if corpus is not None else 65
st.selectbox("Preset", list(MODEL_PRESETS), key="tr_preset", persist_state="session", on_change=apply_preset, format_func=lambda p: f"{p}: {PRESET_HELP.get(p, '')}")
m1, m2, m3, m4, m5 = st.columns(5)
layers = m1.slider("Layers", 1, 12, key="tr_layers", persist_state="session", help="Transformer blocks stacked on each other.")
heads = m2.slider("Heads", 1, 16, key="tr_heads", persist_state="session", help="Attention heads per block; the width is split between them.")
width = m3.select_slider("Embedding width", WIDTH_CHOICES, key="tr_width", persist_state="session", help="Numbers per token vector (the residual stream).")
context = m4.select_slider("Context length", CONTEXT_CHOICES, key="tr_context", persist_state="session", help="The most tokens the model sees at once.")
position = m5.radio("Positions", ["rotary", "learned"], key="tr_position", persist_state="session", help="Rotary: positions rotate queries and keys. Learned: one trained vector per position.")
model_config = ModelConfig(vocab_size=vocab_size, block_size=context, n_layer=layers, n_head=heads, n_embd=width, position="rope" if position == "rotary" else "learned")
config_ok = True
try:
    model_config.validate()
except ConfigError as exc:
    config_ok = False
    good_heads = [h for h in range(1, 17) if width % h == 0 and (position != "rotary" or (width // h) % 2 == 0)]
    problems.append(f"This combination cannot be built: {exc} With a width of {width}, these head counts work: {', '.join(map(str, good_heads))}.")
if config_ok and corpus is not None:
    try:
        check_trainable(corpus.n_tokens, context)
    except DataError as exc:
        problems.append(f"The text is too short for this context: {exc}")

batch_size = int(st.session_state.tr_batch)
if config_ok:
    n_params = model_config.num_params()
    cal = calibration()
    step_s = estimate_step_seconds(model_config, batch_size, cal)
    memory = train_memory_bytes(model_config, batch_size)
    s1, s2, s3, s4 = st.columns(4)
    s1.metric("Parameters", f"{n_params:,}")
    s2.metric("Weights file", anatomy.human_bytes(4 * n_params), help="float32: 4 bytes per parameter, plus a small header describing the model.")
    s3.metric("Seconds per step (estimate)", fmt_seconds(step_s), help=f"About {1 / step_s:,.0f} steps per second.")
    s4.metric("Training memory (estimate)", anatomy.human_bytes(memory))
    st.caption(
        f"Estimate: training costs about 6 floating-point operations per parameter per token, plus attention; "
        f"this machine was measured once at about {cal.flops_per_s / 1e9:,.0f} GFLOP/s with {cal.overhead_s * 1000:.0f} ms of fixed cost per step. "
        "Real speed also depends on what else the server is doing."
    )
    if memory > MAX_MEMORY:
        problems.append(f"This model and batch would need about {anatomy.human_bytes(memory)} of memory to train; this server allows {anatomy.human_bytes(MAX_MEMORY)}. Lower the batch size, context, width or layers.")

show_problems(model_problems_from)

# --- 3 · Training -----------------------------------------------------------------------
st.header("3 · Training")
training_problems_from = len(problems)
t1, t2, t3, t4, t5 = st.columns([1.4, 1.2, 1.4, 0.8, 1.2])
lr = t1.select_slider("Learning rate", LR_CHOICES, key="tr_lr", persist_state="session", format_func=lambda v: f"{v:g}",
                      help="Peak rate of the AdamW optimizer (embeddings, head, norms); the block matrices use Muon at a proportional rate. Too high and training diverges: try 10.")
t2.select_slider("Batch size", BATCH_CHOICES, key="tr_batch", persist_state="session", help="Sequences per step.")
with t3:
    until = st.radio("Train for", ["seconds", "steps"], key="tr_until", persist_state="session", horizontal=True)
    cap = jobs.time_cap_s()
    if until == "seconds":
        budget = st.number_input("Seconds of training", min_value=0, max_value=int(cap), step=10, key="tr_seconds", persist_state="session",
                                 help=f"Training time, not counting evaluations. This server stops any run after {cap:g} s.")
    else:
        budget = st.number_input("Steps", min_value=0, max_value=10_000_000, step=100, key="tr_steps", persist_state="session")
t4.number_input("Seed", min_value=0, max_value=2**31 - 1, key="tr_seed", persist_state="session", help="Same seed, same initial weights and batches.")
t5.select_slider("Evaluate and sample every", EVAL_CHOICES, key="tr_eval_every", persist_state="session", format_func=lambda v: f"{v} steps")

preset_train = TRAIN_PRESETS[st.session_state.tr_preset]
muon_ratio = preset_train.get("muon_lr", TrainConfig.muon_lr) / preset_train.get("lr", TrainConfig.lr)
train_config = TrainConfig(
    max_steps=int(budget) if until == "steps" else 10_000_000,
    time_budget_s=float(budget) if until == "seconds" else None,
    batch_size=batch_size, lr=float(lr), muon_lr=float(lr) * muon_ratio,
    warmup_steps=preset_train.get("warmup_steps", TrainConfig.warmup_steps),
    eval_every=int(st.session_state.tr_eval_every), seed=int(st.session_state.tr_seed), log_every=10,
)
if budget <= 0:
    problems.append(f"Choose at least one {'second' if until == 'seconds' else 'step'} of training: zero {until} trains nothing.")
else:
    try:
        train_config.validate()
    except ConfigError as exc:
        problems.append(str(exc).capitalize())
if config_ok and budget > 0:
    if until == "steps":
        st.caption(f"About {fmt_seconds(budget * step_s)} of training (estimate), plus evaluations. This server stops a run after {cap:g} s; Resume goes on.")
    else:
        st.caption(f"About {budget / step_s:,.0f} steps (estimate). The learning rate warms up, then follows a cosine down to zero at the end of the budget.")
show_problems(training_problems_from)

run = st.session_state.get(RUN_KEY)
b1, b2, b3, b4 = st.columns([1, 1, 1, 4])
b1.button("Train", type="primary", key="tr_train", disabled=busy or bool(problems), on_click=start_training, args=(corpus, model_config, train_config), width="stretch")
b2.button("Stop", key="tr_stop", disabled=not busy, on_click=stop_training, width="stretch")
b3.button("Resume", key="tr_resume", disabled=busy or run is None or not run.can_resume(), on_click=resume_training, width="stretch",
          help="Continue the stopped run: same model, same optimizer state, same schedule.")
b4.caption(f"Trains on **{state.device_label()}**. At most {jobs.max_jobs()} training{'s' if jobs.max_jobs() != 1 else ''} run at once on this server; others wait their turn.")
if problems and not busy:
    st.caption("**Train** is off until the warnings above are resolved.")
if st.session_state.get(MESSAGE_KEY):
    st.error(f"Training could not start: {st.session_state.pop(MESSAGE_KEY)}")


# --- 4 · Live view ----------------------------------------------------------------------
st.header("4 · Watch it learn")


def thin(points: list, limit: int = 600) -> list:
    """At most about `limit` evenly spaced points, always ending with the latest (a chart stays cheap to send)."""
    stride = max(1, math.ceil(len(points) / limit))
    shown = list(points[::stride])
    if shown and shown[-1] is not points[-1]:
        shown.append(points[-1])
    return shown


def one_per_step(records) -> list:
    """One record per step: the closing record repeats the step it closes."""
    kept = []
    for r in records:
        if kept and kept[-1].step == r.step:
            kept[-1] = r
        else:
            kept.append(r)
    return kept


def render_status(snap) -> None:
    run = st.session_state.get(RUN_KEY)
    if snap is None or run is None:
        st.info("Press **Train** to start. The loss curve, the progress and samples of generated text appear here as the model learns.")
        return
    latest = snap.latest
    if snap.status == "queued":
        n = jobs.max_jobs()
        st.info(f"⏳ Waiting for a free slot: this server runs at most {n} training{'s' if n != 1 else ''} at once. You are **number {snap.queue_position or '…'}** in the queue.")
    elif snap.status == "failed":
        st.error(f"Training failed: {snap.error}")
    elif snap.status == "finished":
        reason = snap.stop_reason or "finished"
        if reason.startswith("diverged"):
            st.error(f"Training stopped: the run {reason}")
        elif run.can_resume():
            latency = f" ({snap.stop_latency_s:.2f} s after the request)" if snap.stop_latency_s is not None else ""
            st.info(f"Training {reason}{latency}. Press **Resume** to continue the same run.")
        else:
            st.success(f"Training done: {reason}.")
    elif snap.status == "finishing":
        st.info(f"Measuring the final loss on the whole held-out split (up to {FINAL_EVAL_TOKENS:,} tokens)…")
    else:
        st.caption(f"**{jobs.describe(snap)}**")

    progress = latest.progress if latest is not None else 0.0
    if latest is not None and progress > 0:
        spent = latest.elapsed_s + latest.eval_s
        eta = spent * (1 - progress) / progress
        bar_text = f"{progress:.0%} · ETA {fmt_seconds(eta)}" if snap.active else f"{progress:.0%}"
    else:
        bar_text = "starting…" if snap.active else ""
    st.progress(min(max(progress, 0.0), 1.0), text=bar_text)

    k1, k2, k3, k4, k5 = st.columns(5)
    vals = [r for r in snap.records if r.val_loss is not None]
    k1.metric("Step", f"{latest.step:,}" if latest else "0")
    k2.metric("Train loss", f"{latest.train_loss:.3f}" if latest and math.isfinite(latest.train_loss) else "–")
    k3.metric("Val loss", f"{vals[-1].val_loss:.3f}" if vals else "–", help=f"On {run.eval_tokens:,} held-out tokens while training; the final value uses the whole held-out split.")
    k4.metric("Tokens / s", f"{latest.tokens_per_s:,.0f}" if latest else "–")
    k5.metric("Steps / s", f"{latest.step / latest.elapsed_s:.1f}" if latest and latest.elapsed_s > 0 else "–", help="Optimizer steps per second of training time (evaluations excluded).")


def render_charts(snap) -> None:
    """The loss and learning-rate charts and the samples: redrawn less often than the numbers above
    them, because the browser's work to redraw a chart competes with training on a small machine."""
    run = st.session_state.get(RUN_KEY)
    if snap is None or run is None:
        return
    latest = snap.latest
    records = one_per_step(snap.records)
    vals = [r for r in records if r.val_loss is not None]
    xaxis, logy = st.session_state.tr_xaxis, st.session_state.tr_logy  # chart options: widgets above this fragment
    x_of = (lambda r: r.step) if xaxis == "steps" else (lambda r: r.tokens_seen)
    train_points = [r for r in records if math.isfinite(r.train_loss)]

    chart, lr_chart = st.columns([2, 1])
    # Figures as plain dicts: about 15x cheaper to build than through plotly's validating helpers, which
    # matters at two redraws a second beside a training thread.
    loss_traces = []
    if train_points:
        shown = thin(train_points)
        loss_traces.append(dict(type="scatter", x=[x_of(r) for r in shown], y=[r.train_loss for r in shown], mode="lines", name="train loss", line=dict(color="#60a5fa")))
    if vals:
        loss_traces.append(dict(type="scatter", x=[x_of(r) for r in vals], y=[r.val_loss for r in vals], mode="lines+markers", name="val loss", line=dict(color="#f97316")))
    uniform = run.uniform_loss
    loss_layout = dict(
        height=360, margin=dict(t=30, l=0, r=0, b=0), legend=dict(orientation="h", y=1.12),
        xaxis=dict(title=dict(text=xaxis)), yaxis=dict(title=dict(text="cross-entropy (nats per token)"), type="log" if logy else "linear"),
        shapes=[dict(type="line", xref="paper", x0=0, x1=1, yref="y", y0=uniform, y1=uniform, line=dict(color="#6b7280", dash="dot"))],
        annotations=[dict(xref="paper", x=1, yref="y", y=math.log10(uniform) if logy else uniform, text=f"uniform guess: ln {run.model.config.vocab_size} = {uniform:.2f}",
                          showarrow=False, xanchor="right", yanchor="bottom", font=dict(size=11, color="#6b7280"))],
    )
    chart.plotly_chart(go.Figure(dict(data=loss_traces, layout=loss_layout)), key="tr_loss_chart")

    lr_traces = []
    cfg = run.cfg
    if cfg.time_budget_s is None and cfg.max_steps <= 1_000_000:
        planned = list(range(0, cfg.max_steps + 1, max(1, cfg.max_steps // 200)))
        per_step = latest.tokens_seen / latest.step if latest and latest.step else cfg.batch_size * run.model.config.block_size
        lr_traces.append(dict(type="scatter", x=[s if xaxis == "steps" else s * per_step for s in planned],
                              y=[cfg.lr * lr_scale(s, s / cfg.max_steps, cfg.warmup_steps, cfg.min_lr_ratio) for s in planned],
                              mode="lines", name="planned", line=dict(color="#d1d5db", dash="dash")))
    if records:
        shown = thin(records)
        lr_traces.append(dict(type="scatter", x=[x_of(r) for r in shown], y=[r.lr for r in shown], mode="lines", name="used", line=dict(color="#10b981")))
    lr_layout = dict(height=360, margin=dict(t=30, l=0, r=0, b=0), showlegend=False, title=dict(text="learning rate", font=dict(size=13)),
                     xaxis=dict(title=dict(text=xaxis)))
    lr_chart.plotly_chart(go.Figure(dict(data=lr_traces, layout=lr_layout)), key="tr_lr_chart")

    st.caption(
        f"The loss is the **cross-entropy**: the average of −ln(the probability the model gave to the true next token), so 0 would mean "
        f"always certain and right, and {run.uniform_loss:.2f} is what guessing uniformly among {run.model.config.vocab_size} tokens scores. "
        f"Train loss is measured on each batch; val loss on {run.eval_tokens:,} held-out tokens the model never trains on "
        f"(capped to keep the live view quick), every {cfg.eval_every} steps."
    )

    if snap.samples:
        step, sample_text = snap.samples[-1]
        st.markdown(f"**Sample at step {step:,}** (temperature 0.8, same prompt and seed every time, so only the model changes)")
        st.code(sample_text, language=None, wrap_lines=True)
        if len(snap.samples) > 1:
            with st.expander(f"Every sample so far ({len(snap.samples)})"):
                for step, sample_text in reversed(snap.samples):
                    st.caption(f"step {step:,}")
                    st.code(sample_text, language=None, wrap_lines=True)
    elif snap.active:
        st.caption(f"A sample of generated text appears at every evaluation (every {cfg.eval_every} steps).")


jobs.live(JOB_KEY, render_status, interval=STATUS_POLL_S)
if st.session_state.get(RUN_KEY) is not None:
    # Outside the fragments: a widget inside one would be forgotten when the user visits another chapter.
    o1, o2, _ = st.columns([2, 1, 2])
    o1.radio("x-axis", ["steps", "tokens seen"], key="tr_xaxis", persist_state="session", horizontal=True)
    o2.toggle("log scale", key="tr_logy", persist_state="session")
jobs.live(JOB_KEY, render_charts, interval=CHART_POLL_S)

# --- 5 · Your model ---------------------------------------------------------------------
st.header("5 · Your model")
result = st.session_state.get(RESULT_KEY)
if result is not None and not busy:
    name, trained = result
    record = trained.record
    elapsed = record["elapsed_s"]
    st.success(f"**{name}** is now your current model in every chapter: attention, generation, embeddings.")
    st.markdown(
        f"Trained {record['steps']:,} steps in {elapsed:.1f} s of training ({record['steps'] / max(elapsed, 1e-9):.2f} steps/s); "
        f"evaluations and samples took {record['eval_s']:.1f} s more. Final val loss **{record['val_loss']:.3f}** on the whole held-out split "
        f"({record['val_tokens']:,} tokens), against {math.log(trained.model.config.vocab_size):.2f} for a uniform guess."
    )
    chapters = [(path, label, icon) for path, label, icon in NEXT_CHAPTERS if (ROOT / path).exists()]
    for column, (path, label, icon) in zip(st.columns(max(len(chapters), 1)), chapters):
        with column:
            page_link(path, label, icon)
    entry = state.models().get(name)
    files = model_files(name, entry.created) if entry is not None else None
    if files is not None:
        weights, description = files
        stem = "".join(ch if ch.isalnum() else "-" for ch in name).strip("-").lower()[:60] or "model"
        d1, d2, _ = st.columns([1.4, 1.2, 1])
        d1.download_button(f"Download the weights ({anatomy.human_bytes(len(weights))})", weights, file_name=f"{stem}.safetensors", mime="application/octet-stream", key="tr_dl_weights")
        d2.download_button("Download the description", description, file_name=f"{stem}.json", mime="application/json", key="tr_dl_json")
        st.caption("A model is two files: its weights (.safetensors) and its description (.json: config, tokenizer, training record). "
                   "Upload them below in any LLM Lab, or run them with the runner from the Overview chapter.")
elif busy:
    st.caption("When training stops, the model becomes your current model in every chapter and can be downloaded here.")
elif run is not None and result is None and snap_now is not None and not snap_now.active:
    st.caption("That run ended before its first step, so there is no model to keep.")
else:
    st.caption("Train a model above, or upload one you downloaded before.")

st.subheader("Upload a model")
uploads = st.file_uploader(
    "An LLM Lab model: its .safetensors file (the .json description is optional)", type=["safetensors", "json"],
    accept_multiple_files=True, key="tr_model_upload",
)
if uploads:
    upload_id = tuple(sorted(f.file_id for f in uploads))
    done = st.session_state.setdefault("tr_uploads_done", {})
    if upload_id not in done:
        weights_files = [f for f in uploads if f.name.lower().endswith(".safetensors")]
        json_files = [f for f in uploads if f.name.lower().endswith(".json")]
        if len(weights_files) != 1:
            done[upload_id] = ("warning", "Give exactly one .safetensors file (its .json description is optional).")
        else:
            try:
                loaded = load_checkpoint_bytes(weights_files[0].getvalue(), json_files[0].getvalue() if json_files else None, device=state.device())
                label = weights_files[0].name.rsplit(".", 1)[0] or "uploaded model"
                added = state.add_model(f"{label} (uploaded)", loaded.model, loaded.tokenizer, loaded.meta, source="uploaded")
                done[upload_id] = ("success", f"**{added}** loaded and made your current model: {loaded.model.num_params():,} parameters, vocabulary {loaded.model.config.vocab_size}.")
                st.rerun()  # redraw the sidebar with the new current model
            except CheckpointError as exc:
                done[upload_id] = ("error", f"{weights_files[0].name} was refused: {exc}")
    level, message = done[upload_id]
    getattr(st, level)(message)
