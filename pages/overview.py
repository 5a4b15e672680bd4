"""Overview: where to start, the pipeline at a glance, live on the current model, what LLMs are used
for, and "a model is two files"."""

from pathlib import Path

import streamlit as st

import llm_core.model
from lab_ui import course, predict, state, url_state
from lab_ui import overview_view as view
from lab_ui.chips import literal
from lab_ui.shell import ensure_app_shell
from lab_ui.widgets import page_link, table_html
from llm_core import literature
from llm_core.interpret import first_page
from llm_core.interpret.walkthrough import DEFAULT_PROMPT, NEW_TOKENS, TEMPERATURE, Walkthrough, third_party_imports, walk
from llm_core.model import anatomy
from llm_core.paths import MODELS_DIR
from llm_core.text.tokenizers import TokenizerError, UnknownCharacterError

ensure_app_shell()  # a deep link to this page on a fresh server must still get app.py's shell

# This page asks the model for nothing it has not shipped when the current model is the bundled one
# and the prompt is the first one (llm_core/interpret/first_page.py): a fresh server draws it before
# torch is loaded (app.py). runner.py is read, not imported (it imports torch).
RUNNER_PATH = Path(llm_core.model.__file__).with_name("runner.py")

entry = state.current()
tokenizer, facts, config = entry.tokenizer, entry.facts, entry.config
shipped = entry.shipped_figures()

course.chapter_intro("overview")
course.route_view()
st.header("One sentence through a real model")
st.markdown(
    "A language model is a **next-token predictor**. Text becomes tokens, tokens become vectors, "
    f"self-attention mixes them (the Transformer, {literature.cite('vaswani2017')}), and the network gives a probability "
    "to every possible next token. "
    "Generation picks one, appends it and repeats. Below, one prompt goes through every stage of the "
    f"**current model** (*{entry.name}*); each box links to the chapter that opens it up."
)

prompt = url_state.text_box(st.text_input, "Prompt", "overview_prompt", DEFAULT_PROMPT, max_chars=5000)



@st.cache_data(show_spinner=False, max_entries=64)
def _walk(entry_name: str, created: float, text: str):
    """The walk is deterministic (seed 0): one computation per model and prompt for every session
    (a class opening the app at once runs the default prompt through the bundled model once)."""
    e = state.models()[entry_name]
    return walk(e.model, e.tokenizer, text, new_tokens=NEW_TOKENS, temperature=TEMPERATURE, seed=0)


# The server-wide bundled model is one object for every session: key it by name alone, so a class
# opening the app shares one computation (each session's entry of it is made at its own time).
model_key = (entry.name, 0.0 if entry.shared else entry.created)


def walk_of(text: str) -> Walkthrough:
    # the walk this model made of this prompt, shipped (first_page.py, checked against the model by a test), else made now
    return Walkthrough.from_dict(shipped["walk"]) if first_page.shows(shipped, text) else _walk(*model_key, text)


def drop_unseen(chars: list[str]) -> None:
    st.session_state["overview_prompt"] = view.without(st.session_state.get("overview_prompt", ""), chars)


try:
    w = walk_of(prompt)
except UnknownCharacterError as exc:
    # Characters this model never saw: the walk goes on without them (as Generate offers), or with the first
    # prompt when nothing is left, and says which were dropped; a button drops them from the box too.
    kept = view.without(prompt, exc.chars)
    used = kept if kept.strip() else DEFAULT_PROMPT
    st.info(view.unseen_note(exc.chars, len(getattr(tokenizer, "chars", ())) or config.vocab_size, kept, used))
    if used == kept:
        st.button(f"Remove {'it' if len(exc.chars) == 1 else 'them'} from my prompt", key="ov_drop_unseen", on_click=drop_unseen, args=(list(exc.chars),))
    try:
        w = walk_of(used)
    except ValueError as again:  # the first prompt has characters a model trained on other text never saw
        st.warning(f"This model cannot read that text either: {literal(str(again))}")
        w = None
except TokenizerError as exc:
    st.warning(f"This model cannot read that text: {literal(str(exc))}")
    w = None
except ValueError as exc:
    st.info(str(exc).capitalize())
    w = None

if w is not None:
    if w.truncated:
        st.caption(f"The prompt is longer than the model's context of {config.block_size} tokens: the first {w.truncated} tokens were left out.")
    view.pipeline(w, config.vocab_size, TEMPERATURE)

view.uses()

st.header("A model is two files")


@st.cache_data(show_spinner=False, max_entries=16)
def _files(entry_name: str, created: float):
    e = state.models()[entry_name]
    if e.shipped_figures() is not None:  # the shipped files are these bytes (tests/test_first_page.py): read, not rebuilt from the weights
        return (MODELS_DIR / f"{e.meta['asset']}.safetensors").read_bytes(), (MODELS_DIR / f"{e.meta['asset']}.json").read_bytes()
    from llm_core.model.checkpoint import checkpoint_bytes

    return checkpoint_bytes(e.model, e.tokenizer, e.record)


weights, description = _files(*model_key)
on_disk = MODELS_DIR / "shakespeare-tiny.safetensors"
runner_source = RUNNER_PATH.read_text(encoding="utf-8")
record = entry.record
corpus_chars, corpus_tokens = record.get("corpus_chars"), record.get("tokens_in_corpus")
val_loss, elapsed_s = record.get("val_loss"), record.get("elapsed_s")
st.markdown(
    f"Llama 2 70B is a {anatomy.human_bytes(anatomy.LLAMA2_70B_FILE_BYTES)} file of parameters plus a few hundred lines of code that run them. "
    "So is the model you are using here, at a smaller scale: its parameters, and the program below, "
    f"which imports nothing outside Python's standard library but {' and '.join(f'`{m}`' for m in third_party_imports(runner_source))}."
)
asked = val_loss is not None and bool(corpus_chars) and bool(corpus_tokens)  # the question needs the model's own run
if asked:
    file_bigger = len(weights) > corpus_chars
    predict.checkpoint(
        "overview_file_vs_text",
        f"This model has {facts.num_params:,} parameters and learned from {corpus_chars:,} characters of text. "
        "Is its parameters file bigger or smaller than that text?",
        predict.choice(["bigger than the text", "smaller than the text"]),
        lambda guess: predict.Reveal(
            f"Its parameters file is {anatomy.human_bytes(len(weights))}, the text {corpus_chars:,} characters (about {anatomy.human_bytes(corpus_chars)}): "
            f"the file is {'bigger' if file_bigger else 'smaller'}.",
            guess == ("bigger than the text" if file_bigger else "smaller than the text"),
            view.file_why(facts, len(weights)) + " " + view.compression_note(val_loss, corpus_chars, corpus_tokens, len(weights)),
        ),
    )
size_shown = not asked or predict.made("overview_file_vs_text") is not None  # the file's size is the answer: shown once guessed
left, right = st.columns(2)
with left:
    st.subheader("1 · The parameters")
    view.parameters_chart(facts)
    size_note = f"{anatomy.human_bytes(len(weights))} ({len(weights):,} bytes)"
    if entry.source == "bundled" and on_disk.exists():
        size_note += f"; the bundled file on disk is {on_disk.stat().st_size:,} bytes"
    if size_shown:
        st.caption(f"Weights file: {size_note}. {view.storage_note(facts)}, plus a header describing the model.")
    else:
        st.caption("Weights file: its size shows here once you have made the prediction above.")
    # The files go to the browser when clicked, not with the page (model_files.py says why).
    st.download_button("Download the parameters (.safetensors)", lambda: weights, file_name="model.safetensors", mime="application/octet-stream",
                       key="dl_weights", on_click="ignore", disabled=not size_shown,  # a browser shows a download's size
                       help=None if size_shown else "Make the prediction above first: the file's size is its answer.")
    st.download_button("Download the description (.json)", lambda: description, file_name="model.json", mime="application/json", key="dl_json", on_click="ignore")
with right:
    st.subheader("2 · The code that runs them")
    st.caption(f"`runner.py`: {len(runner_source.splitlines())} lines. Save it next to the parameters and run `python runner.py model.safetensors \"ROMEO:\" 300`.")
    # Drawn once opened: the code highlighter it needs is 1.5 MB of JavaScript that every browser opening
    # the app would otherwise load and run with its first page (app.py's warm-up leaves it out too).
    runner_box = st.expander(f"Read all {len(runner_source.splitlines())} lines of runner.py", key="ov_runner_code", on_change="rerun")
    if runner_box.open:
        runner_box.code(runner_source, language="python", wrap_lines=True)  # no fixed height: a scrolling box is out of keyboard reach
    st.download_button("Download the runner (runner.py)", lambda: runner_source, file_name="runner.py", mime="text/x-python", key="dl_runner", on_click="ignore")
page_link("pages/compression.py", "Compression and cost: the model as a real compressor, and what a model of any size costs", ":material/compress:")

st.header("The same idea at two scales")
trained_on = f"{elapsed_s:,.0f} s of training on one {record.get('device', '?').upper()}" if elapsed_s else "not recorded with this model"
ours = {
    "parameters": f"{facts.num_params:,}",
    "parameters file": anatomy.human_bytes(len(weights)) if size_shown else "(make the prediction above first)",
    "training text": f"{corpus_chars:,} characters ({record.get('corpus', '?')})" if corpus_chars else "not recorded with this model",
    "compute": trained_on,
    "cost": f"no money figure: {trained_on}" if elapsed_s else "not recorded with this model",
    "code to run it": f"{len(runner_source.splitlines())} lines of Python (runner.py)",
}
# How Llama's file size is worked out (parameters x bytes each) would answer the file question for this model
# too (its parameters are counted above): it shows once the guess is locked, as this model's own size does.
rows = [{"": fact["what"], "Llama 2 70B": fact["value"] + (f" ({fact['how']})" if fact.get("how") and size_shown else ""),
         entry.name: ours[fact["what"]], "source of the Llama figure": fact["source"]} for fact in anatomy.LLAMA2_70B]
st.html(table_html(rows))
st.markdown(view.lossy_compression_sentence())
page_link("pages/scale.py", "Why scale matters: loss against size, data and compute, measured on this machine", ":material/trending_down:")

course.chapter_end("overview")
