"""Training: pick data and a model size, press Train, watch the loss fall and the samples improve."""

import math
import os

import streamlit as st

from lab_ui import course, jobs, model_files, state
from lab_ui import training_lessons as lessons
from lab_ui import training_setup as setup
from lab_ui import training_view as view
from lab_ui.glossary import help_text
from lab_ui.shell import ensure_app_shell
from lab_ui.widgets import ROOT, page_link, text_block
from llm_core.model import anatomy
from llm_core.model.config import TRAIN_PRESETS, ConfigError, ModelConfig, TrainConfig
from llm_core.text.data import DataError, check_trainable
from llm_core.training.cost import train_memory_bytes
from llm_core.training.diagnosis import unigram_entropy
from llm_core.workers.threads import THREADS_ENV

ensure_app_shell()  # a deep link to this page on a fresh server must still get app.py's shell

LR_CHOICES = [1e-4, 3e-4, 1e-3, 2e-3, 4e-3, 8e-3, 1.5e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0]
BATCH_CHOICES = [1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 128]
WIDTH_CHOICES = [16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768]
CONTEXT_CHOICES = [8, 16, 32, 64, 128, 256, 512]
EVAL_CHOICES = [20, 50, 100, 200, 300, 500, 1000]
# Each poll costs the watcher's browser CPU that a 2-core server's job then lacks (benchmarks/training_in_app.py):
# a watched tiny run's browser used 11.9% of a core polling at 1.5 s and 4 s with transitions, 5.4% at 2 s and 6 s without.
STATUS_POLL_S = float(os.environ.get("LLM_LAB_STATUS_POLL_S", 2.0))  # progress, ETA, losses: at least every 2 s
CHART_POLL_S = float(os.environ.get("LLM_LAB_CHART_POLL_S", 6.0))  # charts and samples: a redraw costs the browser more
MAX_MEMORY = 4 * 2**30 if state.device().type == "cpu" else 40 * 2**30
NEXT_CHAPTERS = [
    ("pages/attention.py", "See its attention", ":material/visibility:"),
    ("pages/generation.py", "Generate with it", ":material/casino:"),
    ("pages/embeddings.py", "Its embeddings", ":material/scatter_plot:"),
    ("pages/overview.py", "Overview", ":material/explore:"),
]
DEFAULTS = dict(
    tr_source="Bundled corpus", tr_bundled="tinyshakespeare", tr_paste="", tr_tokenizer="Characters", tr_bpe_vocab=512,
    tr_layers=4, tr_heads=4, tr_width=128, tr_context=128, tr_position="rotary",
    tr_lr=4e-3, tr_batch=16, tr_until="seconds", tr_seconds=60, tr_steps=3000, tr_seed=1337, tr_eval_every=200,
    tr_xaxis="steps", tr_logy=False,
)
setup.restore_settings(DEFAULTS)  # controls keep their values across chapters (persist_state="session" on each widget) and reloads (the desk)

course.chapter_intro("training")
st.markdown(
    "Pick some text and a model size, press **Train**, and watch a transformer learn to predict the next "
    "token: the loss falls and the generated text turns from noise into something like your text. "
    "Training runs in a worker process of its own: you can visit other chapters, reload the page or open this "
    "address in a second tab and find your run again."
)
jobs.collect()  # the sidebar does this on every page; again here so the page stands on its own (AppTest runs it alone)
job = jobs.get(setup.JOB_KEY)
snap_now = job.snapshot() if job is not None else None
busy = snap_now is not None and snap_now.active
problems: list[str] = []  # anything that keeps Train off; each is shown in the section it belongs to


def show_problems(since: int) -> None:
    for problem in problems[since:]:
        st.warning(problem)


# --- 1 · Data ---------------------------------------------------------------------------
st.header("1 · Data")
corpus = setup.pick_corpus(problems)
show_problems(0)
if corpus is not None:
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Characters", f"{corpus.n_chars:,}")
    c2.metric("Tokens", f"{corpus.n_tokens:,}", help=f"{corpus.tokenizer.vocab_size:,} distinct tokens ({corpus.tokenizer.kind})")
    c3.metric("Training split", f"{len(corpus.split.train):,}", help="The first 90% of the tokens: the model learns from these.")
    c4.metric("Held-out split", f"{len(corpus.split.val):,}", help="The last 10%: never trained on, used to measure the val loss.")
    with st.expander("Preview", expanded=False):
        text_block(corpus.text[:800] + ("…" if corpus.n_chars > 800 else ""))
    lessons.labels_example(corpus, int(st.session_state.tr_batch), int(st.session_state.tr_context))

# --- 2 · Model --------------------------------------------------------------------------
st.header("2 · Model")
since = len(problems)
vocab_size = corpus.tokenizer.vocab_size if corpus is not None else 65
matching_preset = setup.preset_buttons()
m1, m2, m3, m4, m5 = st.columns(5)
slider = dict(persist_state="session")
layers = m1.slider("Layers", 1, 12, key="tr_layers", help=help_text("layer"), **slider)
heads = m2.slider("Heads", 1, 16, key="tr_heads", help=help_text("attention head") + " The width is split between them.", **slider)
width = m3.select_slider("Embedding width", WIDTH_CHOICES, key="tr_width", help=help_text("embedding") + " This is how many numbers each one has.", **slider)
context = m4.select_slider("Context length", CONTEXT_CHOICES, key="tr_context", help=help_text("context window"), **slider)
position = m5.radio("Positions", ["rotary", "learned"], key="tr_position", persist_state="session",
                    help=help_text("position embedding") + " Rotary: positions rotate queries and keys. Learned: one trained vector per position.")
model_config = ModelConfig(vocab_size=vocab_size, block_size=context, n_layer=layers, n_head=heads, n_embd=width, position="rope" if position == "rotary" else "learned")
config_ok = True
try:
    model_config.validate()
except ConfigError as exc:
    config_ok = False
    problems.append(setup.size_problem(model_config, exc))
if config_ok and corpus is not None:
    try:
        check_trainable(corpus.n_tokens, context)
    except DataError as exc:
        problems.append(f"The text is too short for this context: {exc}")
batch_size = int(st.session_state.tr_batch)
step_s = None
if config_ok:
    step_s, speed_source = setup.speed_check(model_config, batch_size, problems)
    setup.rerun_when_measured()
    if setup.calibration() is not None and not busy:
        jobs.prewarm_worker()  # after the speed check, which it would slow down: the first Train starts at once
    memory = train_memory_bytes(model_config, batch_size)
    s1, s2, s3, s4 = st.columns(4)
    s1.metric("Parameters", f"{model_config.num_params():,}")
    s2.metric("Weights file", anatomy.human_bytes(4 * model_config.num_params()), help="float32: 4 bytes per parameter, plus a small header describing the model.")
    s3.metric("Seconds per step", view.fmt_seconds(step_s) if step_s else "measuring…", help=f"{speed_source}.")
    s4.metric("Training memory (estimate)", anatomy.human_bytes(memory))
    st.caption(f"Seconds per step: {speed_source}. Training costs about 6 floating-point operations per parameter per token, plus attention; "
               "real speed also depends on what else the server is doing.")
    if memory > MAX_MEMORY:
        problems.append(f"This model and batch would need about {anatomy.human_bytes(memory)} of memory to train; this server allows "
                        f"{anatomy.human_bytes(MAX_MEMORY)}. Lower the batch size, context, width or layers.")
show_problems(since)

# --- 3 · Training -----------------------------------------------------------------------
st.header("3 · Training")
since = len(problems)
t1, t2, t3, t4, t5 = st.columns([1.4, 1.2, 1.4, 0.8, 1.2])
lr = t1.select_slider("Learning rate", LR_CHOICES, key="tr_lr", persist_state="session", format_func=lambda v: f"{v:g}",
                      help=help_text("learning rate") + " Here: the peak rate of the AdamW optimizer; the layers' matrices use Muon at a proportional rate.")
t2.select_slider("Batch size", BATCH_CHOICES, key="tr_batch", persist_state="session", help=help_text("batch") + " This many windows of text per step.")
with t3:
    until = st.radio("Train for", ["seconds", "steps"], key="tr_until", persist_state="session", horizontal=True)
    cap = jobs.time_cap_s()
    if until == "seconds":
        budget = st.number_input("Seconds of training", min_value=0, max_value=int(cap), step=10, key="tr_seconds", persist_state="session",
                                 help=f"Training time, not counting evaluations. This server stops any run after {cap:g} s.")
    else:
        budget = st.number_input("Steps", min_value=0, max_value=10_000_000, step=100, key="tr_steps", persist_state="session")
t4.number_input("Seed", min_value=0, max_value=2**31 - 1, key="tr_seed", persist_state="session", help=help_text("seed") + " Here: the same initial weights and batches.")
if until == "steps":
    t5.select_slider("Evaluate and sample every", EVAL_CHOICES, key="tr_eval_every", persist_state="session", format_func=lambda v: f"{v} steps",
                     help=help_text("validation loss"))
else:  # a time cadence: a short run still shows its text improving, whatever the model's speed
    t5.caption(f"Evaluates and samples every {setup.eval_every_s(budget):g} s of training (about 8 times).")
preset = TrainConfig(**TRAIN_PRESETS.get(matching_preset, TRAIN_PRESETS["tiny"]))
train_config = TrainConfig(
    max_steps=int(budget) if until == "steps" else 10_000_000, time_budget_s=float(budget) if until == "seconds" else None,
    batch_size=batch_size, lr=float(lr), muon_lr=preset.muon_lr_for(float(lr)), warmup_steps=preset.warmup_steps,
    muon_momentum_warmup=preset.muon_momentum_warmup,  # the preset's Muon momentum warmup; its half windows stay off (no step in the live curve)
    eval_every=int(st.session_state.tr_eval_every), eval_every_s=setup.eval_every_s(budget) if until == "seconds" else None,
    seed=int(st.session_state.tr_seed), log_every=setup.log_every(step_s),
)
if budget <= 0:
    problems.append(f"Choose at least one {'second' if until == 'seconds' else 'step'} of training: zero {until} trains nothing.")
else:
    try:
        train_config.validate()
    except ConfigError as exc:
        problems.append(str(exc).capitalize())
if config_ok and budget > 0 and step_s:
    if until == "steps":
        st.caption(f"Roughly {view.fmt_seconds(budget * step_s)} of training at {view.fmt_seconds(step_s)} per step ({speed_source}), plus evaluations; "
                   f"a busy server can take several times longer. This server stops a run after {cap:g} s; Resume goes on.")
    else:
        st.caption(f"Roughly {view.approx(budget / step_s)} steps at {view.fmt_seconds(step_s)} per step ({speed_source}). Only a rough guess: "
                   "a server busy with other work (other runs, other learners, a browser on the same machine) can make a run several times slower "
                   "or faster, and the live view says the count measured as it goes. "
                   f"The learning rate warms up, then falls {view.falls_to_zero(train_config)}.")
show_problems(since)
if corpus is not None:
    lessons.predictions(corpus.tokenizer.vocab_size, math.log(corpus.tokenizer.vocab_size), unigram_entropy(corpus.split.train, corpus.tokenizer.vocab_size))

if jobs.requested("tr_start_requested") and not busy and not problems:  # Train was pressed: start with this run's settings
    setup.start(corpus, model_config, train_config, step_s)
    busy = True
setup.keep_settings(DEFAULTS)
run = setup.desk_get(setup.RUN_KEY)
b1, b2, b3, b4 = st.columns([1, 1, 1, 4])
b1.button("Train", type="primary", key="tr_train", disabled=busy or bool(problems), on_click=jobs.request, args=("tr_start_requested",), width="stretch")
b2.button("Stop", key="tr_stop", disabled=not busy, on_click=jobs.stop, args=(setup.JOB_KEY,), width="stretch")
b3.button("Resume", key="tr_resume", disabled=busy or run is None or not run.can_resume(), on_click=setup.resume, width="stretch",
          help="Continue the stopped run: same model, same optimizer state, same schedule.")
n_jobs = jobs.max_jobs()
where = setup.where_it_trains(state.device_label(), state.device().type == "cpu", jobs.backend(), setup.worker_threads(jobs.backend()),
                             os.environ.get(THREADS_ENV, ""))
b4.caption(f"{where} At most {n_jobs} training{'s' if n_jobs != 1 else ''} run at once on this server; others wait their turn.")
if problems and not busy:
    st.caption("**Train** is off until the warnings above are resolved.")
if st.session_state.get(setup.MESSAGE_KEY):
    st.error(f"Training could not start: {st.session_state.pop(setup.MESSAGE_KEY)}")

# --- 4 · Live view ----------------------------------------------------------------------
st.header("4 · Watch it learn")


def live_status(snap) -> None:
    run_now = setup.desk_get(setup.RUN_KEY)
    view.render_status(run_now, snap, n_jobs, setup.desk_get(setup.RESULT_KEY))
    lessons.rerun_when_revealable(run_now, snap)  # a locked "loss after 30 s" guess is revealed the moment the run gets there


jobs.live(setup.JOB_KEY, live_status, interval=STATUS_POLL_S)
if run is not None:  # chart options outside the fragments: a widget inside one is forgotten on another chapter
    o1, o2, _ = st.columns([2, 1, 2])
    o1.radio("x-axis", ["steps", "tokens seen"], key="tr_xaxis", persist_state="session", horizontal=True)
    o2.toggle("log scale", key="tr_logy", persist_state="session")
jobs.live(setup.JOB_KEY, lambda snap: view.render_charts(setup.desk_get(setup.RUN_KEY), snap, st.session_state.tr_xaxis, st.session_state.tr_logy,
                                                         setup.desk_get(setup.RESULT_KEY)), interval=CHART_POLL_S)

# --- 5 · Your model ---------------------------------------------------------------------
st.header("5 · Your model")
result = setup.desk_get(setup.RESULT_KEY)
if result is not None and not busy:
    name, trained, current = result
    view.render_result(name, trained, current, run)
    if current:
        chapters = [(path, label, icon) for path, label, icon in NEXT_CHAPTERS if (ROOT / path).exists()]
        for column, (path, label, icon) in zip(st.columns(max(len(chapters), 1)), chapters):
            with column:
                page_link(path, label, icon)
    model_files.download_buttons(name, key="tr_dl")
elif busy:
    st.caption("When training stops, the model becomes your current model in every chapter and can be downloaded here.")
elif run is not None and snap_now is not None and not snap_now.active:
    st.caption("That run ended before its first step, so there is no model to keep.")
else:
    st.caption("Train a model above, or upload one you downloaded before.")
st.subheader("Upload a model")
model_files.upload_section("tr_model_upload")

course.chapter_end("training")
