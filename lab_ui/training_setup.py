"""The Training chapter's set-up: the text to learn from, presets, the speed check, and the job's buttons.

What it is: `pick_corpus(problems)` draws the data section and returns a prepared `Corpus` (or
None, with the reason appended to `problems`); `preset_buttons` set the sliders to a preset and
say which one they match; `restore_settings`/`keep_settings` bring the choices back after a
reload or in a second tab; `speed_check(...)` estimates seconds per step from a one-time calibration
of this machine, prefers a figure measured on an earlier run of the same size, and refuses sizes
whose step would take too long; `start`, `stop`, `resume` serve the buttons; the run,
its job and its last result live on the user's desk, so a reload finds them.
What it is not: the training itself (`llm_core.training.training_run`) or the live view (`training_view`).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
import time
from functools import partial

import streamlit as st

from lab_ui import jobs, state
from lab_ui.model_files import plain
from llm_core.model.config import MODEL_PRESETS, TRAIN_PRESETS, ConfigError, ModelConfig, TrainConfig
from llm_core.text.data import DataError, bundled_corpora, text_from_bytes
from llm_core.training.cost import Calibration, calibrate, calibration_job, estimate_step_seconds
from llm_core.training.diagnosis import headline, measured_train_loss
from llm_core.training.training_run import TrainingRun, prepare_corpus
from llm_core.workers import result_of

JOB_KEY = "training"
RUN_KEY = "tr_run"  # on the desk: the TrainingRun behind the job (configs, corpus, weights for Resume)
RESULT_KEY = "tr_result"  # on the desk: (registered name, TrainedModel, made current) of the last segment
RUNS_KEY = "tr_runs"  # on the desk: a summary of every finished segment (run_summary), for the predictions
MESSAGE_KEY = "tr_message"  # a start-up refusal to show once
SETTINGS_KEY = "tr_settings"  # on the desk: the chapter's choices, for a reload or a second tab
WARN_STEP_S = 3.0  # a step slower than this gets a warning with the figure
REFUSE_STEP_S = 30.0  # and slower than this is refused: Stop, progress and the time cap all wait on steps
CUSTOM = "custom"
PRESET_HELP = {"nano": "2 layers, trains in seconds", "tiny": "4 layers, the bundled model's size",
               "small": "6 layers, about 10M parameters: for a GPU or a patient CPU", CUSTOM: "your own settings"}


def desk_get(key: str):
    return state.desk().data.get(key)


def apply_preset(name: str) -> None:
    """A preset button: set the sliders (and the learning rate, batch and steps) to the preset's values."""
    m, t = MODEL_PRESETS[name], TRAIN_PRESETS[name]
    st.session_state.update(tr_layers=m["n_layer"], tr_heads=m["n_head"], tr_width=m["n_embd"], tr_context=m["block_size"])
    st.session_state.update(tr_lr=t.get("lr", TrainConfig.lr), tr_batch=t["batch_size"], tr_steps=t["max_steps"])


def matching_preset() -> str:
    """The preset the model sliders match now, or "custom". Computed on every run, never stored: a
    stored choice that a callback rewrites can be sent back stale by a browser whose reruns a busy
    server cut short (the load test saw sliders jump back to a preset), and a computed one cannot."""
    s = st.session_state
    for name, m in MODEL_PRESETS.items():
        if (s.tr_layers, s.tr_heads, s.tr_width, s.tr_context) == (m["n_layer"], m["n_head"], m["n_embd"], m["block_size"]):
            return name
    return CUSTOM


def size_problem(config: ModelConfig, exc: Exception) -> str:
    """Why the sliders' model cannot be built, in the sliders' own words (the config's error names its fields).

    >>> print(size_problem(ModelConfig(vocab_size=65, n_embd=32, n_head=3), ConfigError("n_embd (32) must be divisible by n_head (3)")))
    This combination cannot be built: the **Embedding width** (32) must split evenly between the **Heads** (3), since each head gets an equal share of it. ...
    >>> size_problem(ModelConfig(vocab_size=65, n_embd=32, n_head=3), ConfigError("")).endswith("With an Embedding width of 32, these Heads work: 1, 2, 4, 8, 16.")
    True
    >>> print(size_problem(ModelConfig(vocab_size=65, n_embd=48, n_head=16), ConfigError("rotary positions need an even head size")))
    This combination cannot be built: with **Positions** set to rotary, each head needs an even share of the **Embedding width**, and 48 / 16 = 3 is odd. ...
    """
    good = ", ".join(map(str, ModelConfig.valid_head_counts(config.n_embd, config.position, limit=16)))
    works = f" With an Embedding width of {config.n_embd}, these Heads work: {good}."
    if config.n_head >= 1 and config.n_embd % config.n_head:
        why = (f"the **Embedding width** ({config.n_embd}) must split evenly between the **Heads** ({config.n_head}), "
               "since each head gets an equal share of it.")
    elif config.position == "rope" and config.n_head >= 1 and config.head_dim % 2:
        why = (f"with **Positions** set to rotary, each head needs an even share of the **Embedding width**, and "
               f"{config.n_embd} / {config.n_head} = {config.head_dim} is odd.")
    else:
        return f"This combination cannot be built: {exc}"
    return f"This combination cannot be built: {why}{works}"


def preset_buttons() -> str:
    """A button per preset (pressing one always resets the sliders to it) and which one the sliders match."""
    matching = matching_preset()
    cols = st.columns([1.3, 1, 1, 1, 4])
    cols[0].markdown(f"**Preset**: {matching}")
    for col, name in zip(cols[1:], MODEL_PRESETS):
        col.button(name, key=f"tr_preset_{name}", on_click=apply_preset, args=(name,), help=PRESET_HELP[name],
                   type="primary" if name == matching else "secondary", width="stretch")
    cols[-1].caption(f"{PRESET_HELP[matching]}." if matching == CUSTOM else f"These sliders are the {matching} preset ({PRESET_HELP[matching]}); moving one makes them custom.")
    return matching


def restore_settings(defaults: dict) -> None:
    """A session's first visit to the chapter starts from the settings last used at this desk (after a
    reload, or in a second tab, they come back with the run), else from `defaults`."""
    kept = desk_get(SETTINGS_KEY) or {}
    for key, default in defaults.items():
        st.session_state.setdefault(key, kept.get(key, default))


def keep_settings(defaults: dict) -> None:
    state.desk().data[SETTINGS_KEY] = {key: st.session_state[key] for key in defaults if key in st.session_state}


@st.cache_resource(show_spinner="Tokenizing the corpus…", max_entries=4, ttl=3600)  # a 20 MB corpus holds 160 MB of token ids
def _prepared(digest: str, kind: str, bpe_vocab: int, name: str, _text: str):
    return prepare_corpus(_text, name, kind, bpe_vocab)


def pick_corpus(problems: list[str]):
    """The data section's left column (source and text) and right column (tokenizer); returns a Corpus or None."""
    text, name = None, None
    left, right = st.columns([1, 1])
    with left:
        source = st.radio("Text to learn from", ["Bundled corpus", "Paste text", "Upload a .txt file"], key="tr_source", persist_state="session", horizontal=True)
        if source == "Bundled corpus":
            names = list(bundled_corpora())
            if st.session_state.tr_bundled not in names:
                st.session_state.tr_bundled = names[0]
            name = st.selectbox("Corpus", names, key="tr_bundled", persist_state="session")
            text = state.corpus(name)
        elif source == "Paste text":
            text = st.text_area("Your text", key="tr_paste", persist_state="session", height=180, max_chars=2_000_000, placeholder="Paste a few thousand characters or more…")
            name = "pasted text"
            if not text.strip():
                problems.append("Paste some text to train on (the more, the better: a few hundred thousand characters is good).")
                text = None
        else:
            text, name = _uploaded_text(problems)
    with right:
        kind = st.radio("Tokenizer", ["Characters", "BPE"], key="tr_tokenizer", persist_state="session", horizontal=True,
                        help="Characters: one token per character. BPE: LLM Lab's byte-level BPE, trained on this corpus (see the Tokenization chapter).")
        if kind == "BPE":
            st.slider("BPE vocabulary size", 260, 4096, key="tr_bpe_vocab", persist_state="session", step=4, help="256 byte tokens plus this many minus 256 learned merges.")
    if text is None:
        return None
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()
    try:
        return _prepared(digest, "char" if kind == "Characters" else "bpe", int(st.session_state.tr_bpe_vocab), name, text)
    except DataError as exc:
        problems.append(str(exc).capitalize())
        return None


def _uploaded_text(problems: list[str]):
    upload = st.file_uploader("A UTF-8 text file", type=["txt"], key="tr_upload", help="Up to 20 MB of text.")
    if upload is not None:
        try:
            st.session_state.tr_uploaded = (upload.name, text_from_bytes(upload.getvalue()))
        except DataError as exc:
            st.session_state.pop("tr_uploaded", None)
            problems.append(f"**{plain(upload.name)}** cannot be used: {exc}")
    kept = st.session_state.get("tr_uploaded")
    if kept is None:
        if upload is None:
            problems.append("Upload a .txt file to train on.")
        return None, None
    name, text = kept
    if upload is None:
        st.caption(f"Using your earlier upload, **{plain(name)}**. Upload another file to replace it.")
    return text, name


@st.cache_resource(show_spinner=False)
def _speed_store() -> dict:
    return {"measured": {}, "lock": threading.Lock()}


def calibration():
    """This machine's speed, measured once per server with a few real steps, waited for by a background
    thread (on a busy server that takes a while, and the page must not wait for it); None until then."""
    store = _speed_store()
    with store["lock"]:
        if "calibration" not in store and "thread" not in store:
            device = str(state.device())
            store["thread"] = threading.Thread(target=lambda: store.update(calibration=_measure(device)), name="calibrate", daemon=True)
            store["thread"].start()
    return store.get("calibration")


def _measure(device: str) -> Calibration:
    """The timed steps run in a worker process, where training jobs run (lab_ui.jobs.backend()). In a
    thread of this server they held its interpreter lock for seconds, just when a class was opening its
    first chapters, and every session's script waited for it (a third of the server's busy samples in
    a class's first round; README: Benchmarks). Measured here if no worker can start."""
    try:
        return result_of(calibration_job, (device,), backend=jobs.backend())
    except Exception:  # a worker that cannot start or dies: the page still gets its estimate
        logging.getLogger(__name__).warning("measuring this machine's speed in a worker failed; measuring it in the server", exc_info=True)
        return calibrate(device)


def rerun_when_measured() -> None:
    """While the speed is being measured, a small fragment reruns the page once it is known."""
    if calibration() is not None:
        return

    @st.fragment(run_every=1.0)
    def _wait():
        if calibration() is not None:
            st.rerun()

    _wait()


def _size_key(config: ModelConfig, batch_size: int) -> tuple:
    return (config.n_layer, config.n_head, config.n_embd, config.block_size, config.vocab_size, batch_size)


def speed_check(config: ModelConfig, batch_size: int, problems: list[str]) -> tuple[float | None, str]:
    """Seconds per step (measured on an earlier run of this size if there was one, else estimated from
    a calibration made once per server and corrected by how far the last run's measured speed was from
    its estimate, so the figure does not jump between visits) and where it comes from; (None, why)
    while the machine's speed is still being measured."""
    store = _speed_store()
    measured = store["measured"].get(_size_key(config, batch_size))
    if measured is not None:
        step_s, source = measured, "measured on an earlier run of this size on this server"
    else:
        cal = calibration()
        if cal is None:
            return None, "this server is measuring its speed with a few training steps (once, in the background)"
        step_s = estimate_step_seconds(config, batch_size, cal)
        source = f"estimated: this machine was measured once at about {cal.flops_per_s / 1e9:,.0f} GFLOP/s with {cal.overhead_s * 1000:.0f} ms per step"
        ratio = store.get("ratio")
        if ratio is not None and abs(ratio - 1) > 0.05:
            step_s *= ratio
            source += f", then corrected by the last run's measured speed ({ratio:.2f}x the estimate)"
    if step_s > REFUSE_STEP_S:
        problems.append(f"One training step of this model would take about {step_s:,.0f} s here ({source}). "
                        f"This server trains models whose step takes under {REFUSE_STEP_S:g} s: lower the width, layers, context or batch.")
    elif step_s > WARN_STEP_S:
        st.warning(f"One training step of this model takes about {step_s:,.1f} s here ({source}): the loss curve will move slowly.")
    return step_s, source


def record_speed(run: TrainingRun, snap) -> None:
    """Keep a finished run's measured seconds per step for its size, and how far it was from the
    calibration's estimate (every later estimate is corrected by that ratio)."""
    latest, store = snap.latest, _speed_store()
    if latest is not None and latest.step > 0 and latest.elapsed_s > 0:
        measured = latest.elapsed_s / latest.step
        store["measured"][_size_key(run.model_config, run.cfg.batch_size)] = measured
        cal = store.get("calibration")
        if cal is not None and latest.step >= 20:  # a handful of steps is mostly start-up
            store["ratio"] = min(max(measured / estimate_step_seconds(run.model_config, run.cfg.batch_size, cal), 0.1), 10.0)


def register_trained(run: TrainingRun, job, snap) -> None:
    """Runs in a script thread of this user when a segment ends (lab_ui.jobs.collect)."""
    record_speed(run, snap)
    result, data = job.result, state.desk().data
    if result is None:
        data[RESULT_KEY] = None
        return
    from lab_ui.training_view import failed_to_learn

    current = not failed_to_learn(result.record, run.uniform_loss)
    steps = result.record["steps"]
    name = state.add_model(f"{run.name} · {steps:,} step{'' if steps == 1 else 's'}", result.model, result.tokenizer, result.meta,
                           source="trained", make_current=current)
    data[RESULT_KEY] = (name, result, current) if name is not None else None  # None: a quota refused it (the sidebar says why)
    data.setdefault(RUNS_KEY, []).append(run_summary(run, snap, result.record, name))


def run_summary(run: TrainingRun, snap, record: dict | None, name: str | None) -> dict:
    """What the chapter's predictions need from a finished segment (JSON-able, kept on the desk)."""
    cfg, m = run.cfg, run.model_config
    evals = [dict(step=r.step, elapsed_s=round(r.elapsed_s, 3), val_loss=round(r.val_loss, 4))
             for r in snap.records if r.val_loss is not None and math.isfinite(r.val_loss)]
    found = headline(record) if record else None
    finite = [t for r in snap.records if (t := measured_train_loss(r)) is not None and math.isfinite(t)]
    return dict(
        name=name, run=run.name, started=run.created_at, ended=time.time(), lr=cfg.lr, layers=m.n_layer, heads=m.n_head, width=m.n_embd,
        context=m.block_size, corpus=run.corpus.name, tokenizer=run.tokenizer.kind, vocab=m.vocab_size, seconds=cfg.time_budget_s,
        steps=run.steps_done, elapsed_s=round(run.counters["elapsed_s"], 2), stop_reason=snap.stop_reason,
        diagnosis=run.diagnose(snap.records, snap.stop_reason).kind, val=None if found is None else found.value, evals=evals,
        first_loss=round(finite[0], 4) if finite else None, peak_loss=round(max(finite), 4) if finite else None,
        # in words from the losses themselves, as the loss chart's caption writes them: two decimals of a value
        # already rounded to four can differ from the caption's (1105.855 -> "1105.85" beside "1105.86")
        loss_jump=loss_jump(snap.records, run.uniform_loss),
        eval_tokens=run.eval_tokens,  # held-out tokens per evaluation during training (the 30 s reveal says so)
    )


def loss_jump(records, uniform: float) -> str | None:
    """How the training loss went up, in words that fit the run: from its first measurement to its highest,
    or, when it was measured once (a run that broke before its second record), that one value.

    >>> from types import SimpleNamespace as NS
    >>> loss_jump([NS(step=5, train_loss=150.1162)], 4.17)
    'to 150.12 by step 5, its first and only measurement (an untrained model scores about 4.17)'
    >>> loss_jump([NS(step=1, train_loss=4.2), NS(step=2, train_loss=26.96)], 4.17)
    'from 4.20 to 26.96'
    """
    points = [(r.step, t) for r in records if (t := measured_train_loss(r)) is not None and math.isfinite(t)]
    if not points:
        return None
    peak = max(points, key=lambda p: p[1])
    if len(points) == 1 or peak is points[0]:
        return f"to {peak[1]:.2f} by step {peak[0]:,}, its first {'and only ' if len(points) == 1 else ''}measurement (an untrained model scores about {uniform:.2f})"
    return f"from {points[0][1]:.2f} to {peak[1]:.2f}"


def worker_threads(backend: str) -> int:
    """The torch threads a training job starts with, before any trial: in a worker process, what OMP_NUM_THREADS
    says as the worker inherits it from this server (the tests set 1), else torch's count at import here (one per
    core); inside this server, its training threads' count (`llm_core.model.device.TRAINING_THREADS`)."""
    from llm_core.model.device import TRAINING_THREADS

    if backend != "thread":
        try:
            return max(1, int(os.environ.get("OMP_NUM_THREADS", "")))
        except ValueError:  # unset (or a list of counts): torch's own count
            pass
    return TRAINING_THREADS


def where_it_trains(device_label: str, on_cpu: bool, backend: str, threads: int, fixed: str = "") -> str:
    """Where and how a run trains, in plain words, for the caption beside the Train button. The thread count is
    `llm_core.workers.threads`': a worker starts with torch's count (one per core) and now and then times a second
    of training with one fewer, keeping whichever measures faster (another count must win clearly); a count
    fixed by LLM_LAB_WORKER_THREADS is not tried. A newcomer could not parse the old wording ("in a worker
    process, which uses one thread fewer while that measures faster (a busy server)").

    >>> print(where_it_trains("CPU, 2 cores", True, "process", 2))  # doctest: +NORMALIZE_WHITESPACE
    Trains on **CPU, 2 cores**, in a worker process: a separate program this server starts to do the training, so the pages stay
    quick meanwhile. It shares each step's arithmetic between 2 cores, or 1 when that trains faster, as it can on a busy server
    (it tries now and then).
    >>> print(where_it_trains("NVIDIA H100", False, "process", 16))
    Trains on **NVIDIA H100**, in a worker process: a separate program this server starts to do the training, so the pages stay quick meanwhile.
    >>> print(where_it_trains("CPU, 1 core", True, "thread", 1))
    Trains on **CPU, 1 core**, inside this server's own program (it is set up so), beside the pages it serves.
    >>> where_it_trains("CPU, 4 cores", True, "process", 4, fixed="3").endswith("It shares each step's arithmetic between 3 cores, as this server is set up to.")
    True
    """
    where = {"thread": "inside this server's own program (it is set up so), beside the pages it serves",
             "ray": "on a Ray cluster: other machines this server hands the training to, so the pages stay quick meanwhile"}.get(
        backend, "in a worker process: a separate program this server starts to do the training, so the pages stay quick meanwhile")
    text = f"Trains on **{device_label}**, {where}."
    if not on_cpu or backend == "ray":  # a GPU's threads, or another machine's cores: nothing this server can say
        return text
    try:
        n = max(1, int(fixed.strip()))  # as ThreadTuner.for_this_machine reads it
    except ValueError:  # unset, or not a number (ignored there too)
        n = None
    if n is not None:
        return text + (f" It shares each step's arithmetic between {n} cores" if n != 1 else " It does each step's arithmetic on 1 core") + ", as this server is set up to."
    if threads <= 1:
        return text
    return text + (f" It shares each step's arithmetic between {threads} cores, or {threads - 1} when that trains faster, as it can on a busy "
                   "server (it tries now and then).")


def log_every(step_s: float | None) -> int:
    """Steps between progress records: about one a second, at most every 10 steps.

    >>> log_every(0.01), log_every(0.3), log_every(5.0), log_every(None)
    (10, 3, 1, 5)
    """
    if step_s is None:
        return 5
    return max(1, min(10, round(1.0 / max(step_s, 1e-6))))


def eval_every_s(budget_s: float) -> float:
    """Seconds of training between evaluations of a run given in seconds: about 8 per run, at least 2 s apart.

    >>> eval_every_s(60), eval_every_s(10), eval_every_s(600)
    (7.5, 2.0, 75.0)
    """
    return max(2.0, round(budget_s / 8, 1))


def start(corpus, model_config: ModelConfig, train_config: TrainConfig, estimated_step_s: float | None = None) -> None:
    job = jobs.get(JOB_KEY)
    if job is not None and job.snapshot().active:
        return  # a double click: the run is already going
    try:
        run = TrainingRun(corpus, model_config, train_config, device=state.device(), backend=jobs.backend())
    except (ConfigError, DataError, ValueError) as exc:
        st.session_state[MESSAGE_KEY] = str(exc)
        return
    run.estimated_step_s = estimated_step_s
    job = run.make_job(gate=jobs.gate(), time_cap_s=jobs.time_cap_s(), idle_timeout_s=jobs.IDLE_TIMEOUT_S)
    jobs.track(JOB_KEY, job, f"Training {run.name}", "pages/training.py", partial(register_trained, run), live_on_page=True)  # collects the previous run first
    state.desk().data.update({RUN_KEY: run, RESULT_KEY: None, "started": time.time()})
    job.start()


def resume() -> None:
    job, run = jobs.get(JOB_KEY), desk_get(RUN_KEY)
    if job is not None and run is not None and not job.snapshot().active and run.can_resume():
        job.start()
