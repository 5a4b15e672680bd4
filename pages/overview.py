"""Overview: the pipeline at a glance, live on the current model, and "a model is two files"."""

import plotly.graph_objects as go
import streamlit as st

from lab_ui import course, predict, state, url_state
from lab_ui.chips import literal
from lab_ui.shell import ensure_app_shell
from lab_ui.widgets import page_link, table_html, token_chips
from llm_core.interpret.walkthrough import third_party_imports, walk
from llm_core.model import anatomy, runner
from llm_core.model.checkpoint import MODELS_DIR, checkpoint_bytes
from llm_core.text.tokenizers import TokenizerError

ensure_app_shell()  # a deep link to this page on a fresh server must still get app.py's shell

NEW_TOKENS, TEMPERATURE = 80, 0.8  # the sampled continuation of box 5
SURENESS = {"under 10%": (0, 0.1), "10% to 40%": (0.1, 0.4), "40% to 80%": (0.4, 0.8), "over 80%": (0.8, 1.01)}


def sureness_band(p: float) -> str:
    return next(name for name, (lo, hi) in SURENESS.items() if lo <= p < hi)

entry = state.current()
model, tokenizer = entry.model, entry.tokenizer

course.chapter_intro("overview")
course.route_view()
st.markdown(
    "A language model is a **next-token predictor**. Text becomes tokens, tokens become vectors, "
    "self-attention mixes them, and the network gives a probability to every possible next token. "
    "Generation samples one, appends it and repeats. Below, one prompt goes through every stage of "
    f"the **current model** (*{entry.name}*); each box links to the chapter that opens it up."
)

prompt = url_state.text_box(st.text_input, "Prompt", "overview_prompt", "ROMEO: O, she doth teach the torches to burn bright", max_chars=5000)

try:
    w = walk(model, tokenizer, prompt, new_tokens=NEW_TOKENS, temperature=TEMPERATURE, seed=0)
except TokenizerError as exc:
    st.warning(f"This model cannot read that text: {literal(str(exc))}")
    w = None
except ValueError as exc:
    st.info(str(exc).capitalize())
    w = None

if w is not None:
    if w.truncated:
        st.caption(f"The prompt is longer than the model's context of {model.config.block_size} tokens: the first {w.truncated} tokens were left out.")
    c1, c2, c3 = st.columns(3)
    with c1.container(border=True):
        st.markdown("**1 · Text → tokens**")
        token_chips([(p, f"id {i}") for p, i in zip(w.pieces, w.token_ids)], max_tokens=60)
        st.caption(f"{len(w.token_ids)} tokens, ids {w.token_ids[:8]}{' …' if len(w.token_ids) > 8 else ''}")
        page_link("pages/tokenization.py", "Tokenization", ":material/content_cut:")
    with c2.container(border=True):
        st.markdown("**2 · Tokens → vectors**")
        st.caption(f"Each token id picks a row of a learned table: a vector of {w.vector_size} numbers. The last token's first eight:")
        st.text("  ".join(f"{v:+.2f}" for v in w.vector_preview[:4]) + "\n" + "  ".join(f"{v:+.2f}" for v in w.vector_preview[4:]) + "  …")
        page_link("pages/embeddings.py", "Embeddings", ":material/scatter_plot:")
    with c3.container(border=True):
        st.markdown("**3 · Attention mixes them**")
        lines = [
            f"layer {i}: looks most at token {pos} ({w.pieces[pos]!r}), weight {weight:.2f}"
            for i, (pos, weight) in enumerate(w.attention_source)
        ]
        st.caption(f"{w.n_layer} layers × {w.n_head} heads. Where the last token looks, averaged over heads:")
        st.text("\n".join(lines))
        page_link("pages/attention.py", "Attention", ":material/visibility:")
    c4, c5, c6 = st.columns(3)
    with c4.container(border=True):
        st.markdown("**4 · A probability for every next token**")
        top_piece, top_p = w.next_tokens[0]
        predict.checkpoint(
            "overview_top_probability",
            f"Out of {model.config.vocab_size} possible next tokens, how much probability does the model give its single favourite?",
            predict.choice(list(SURENESS), horizontal=False),
            lambda guess: predict.Reveal(
                f"Its favourite, {top_piece!r}, gets {top_p:.0%}; the next four get {sum(p for _, p in w.next_tokens[1:]):.0%} together.",
                sureness_band(top_p) == guess,
                f"{'Many' if top_p < 0.5 else 'Few'} continuations of this prompt fit what the model learned, so it "
                f"{'spreads' if top_p < 0.5 else 'puts most of'} its probability {'over several tokens' if top_p < 0.5 else 'on one token'}: "
                "a language model gives odds, not one answer.",
            ),
        )
        if predict.made("overview_top_probability"):
            st.caption(f"Out of {model.config.vocab_size} possible tokens, the most likely next ones:")
            st.text("\n".join(f"{p * 100:5.1f}%  {t!r}" for t, p in w.next_tokens))
        page_link("pages/generation.py", "Generation", ":material/casino:")
    with c5.container(border=True):
        st.markdown("**5 · Sample, append, repeat**")
        st.caption(f"{w.new_tokens} tokens sampled one at a time (temperature {TEMPERATURE}, seed 0):")
        st.text(w.continuation)
        page_link("pages/generation.py", "Generation", ":material/casino:")
    with c6.container(border=True):
        st.markdown("**6 · From base model to assistant**")
        st.caption(
            "Pre-training on a large corpus gives a base model that only continues text. Supervised "
            "fine-tuning on prompt/response pairs teaches it to follow instructions. In RLHF, people rank "
            "the model's answers following written instructions, a reward model learns those rankings, and "
            "the model is optimised against the reward model on its own samples, on a leash to where it "
            "started; DPO skips the reward model and the sampling and learns from the rankings directly."
        )
        page_link("pages/training.py", "Pre-training", ":material/model_training:")
        page_link("pages/scale.py", "Why scale matters", ":material/trending_down:")
        page_link("pages/assistant.py", "Fine-tuning and RLHF", ":material/support_agent:")
        page_link("pages/knowing.py", "Hallucination and retrieval", ":material/menu_book:")

def compression_note(val_loss: float, chars: int, tokens: int, file_bytes: int) -> str:
    """What this model's own run says about compression: its loss in bits per character (its tokens
    hold chars/tokens characters on average in its training text) against 8 bits per character of
    plain ASCII text, and its parameters file against the text it learned from."""
    bits_token = anatomy.bits_per_token(val_loss)
    bits_char = bits_token * tokens / chars
    per_token = "" if tokens == chars else f" ({bits_token:.2f} bits per token; its tokens hold {chars / tokens:.2f} characters on average)"
    text = (
        f"This model, measured on its own run: a validation loss of {val_loss:.3f} nats per token is **{bits_char:.2f} bits per "
        f"character**{per_token}, against 8 bits per character of plain ASCII text: "
        f"{8 / bits_char:.1f}× fewer bits, because it predicts the text instead of spelling it out. "
    )
    ratio = chars / file_bytes
    if ratio < 1:
        return text + (
            f"But its parameters file ({anatomy.human_bytes(file_bytes)}) is *larger* than the {chars:,} characters it "
            f"learned from ({1 / ratio:.1f}×): at this scale the model is not a compressed copy of its data."
        )
    return text + f"Its parameters file ({anatomy.human_bytes(file_bytes)}) is {ratio:.1f}× smaller than the {chars:,} characters it learned from."


st.header("A model is two files")


@st.cache_data(show_spinner=False, max_entries=16)
def _files(entry_name: str, created: float):
    e = state.models()[entry_name]
    weights, description = checkpoint_bytes(e.model, e.tokenizer, e.record)
    return weights, description


weights, description = _files(entry.name, entry.created)
on_disk = MODELS_DIR / "shakespeare-tiny.safetensors"
runner_source = open(runner.__file__, encoding="utf-8").read()
st.markdown(
    f"Llama 2 70B is a {anatomy.human_bytes(anatomy.LLAMA2_70B_FILE_BYTES)} file of parameters plus a few hundred lines of code that run them. "
    "So is the model you are using here, at a smaller scale: its parameters, and the program below, "
    f"which imports nothing outside Python's standard library but {' and '.join(f'`{m}`' for m in third_party_imports(runner_source))}."
)
left, right = st.columns(2)
with left:
    st.subheader("1 · The parameters")
    groups = anatomy.param_breakdown(model)
    parts = sorted({g.part for g in groups})
    # go.Treemap from lists, not plotly.express: express would import pandas (a third of a second
    # on the app's first page) to build a table of a dozen rows.
    fig = go.Figure(go.Treemap(
        labels=[f"{g.part}: {g.name}" for g in groups] + parts,
        parents=[g.part for g in groups] + [""] * len(parts),
        values=[g.count for g in groups] + [0] * len(parts),
        branchvalues="remainder",
        hovertemplate="%{label}<br>%{value:,} parameters<extra></extra>",
    ))
    fig.update_layout(title=f"{model.num_params():,} parameters, by part of the model", margin=dict(t=40, l=0, r=0, b=0), height=360)
    st.plotly_chart(fig, key="overview_treemap")
    size_note = f"{anatomy.human_bytes(len(weights))} ({len(weights):,} bytes)"
    if entry.source == "bundled" and on_disk.exists():
        size_note += f"; the bundled file on disk is {on_disk.stat().st_size:,} bytes"
    st.caption(f"Weights file: {size_note}. float32, 4 bytes per parameter, plus a header describing the model.")
    st.download_button("Download the parameters (.safetensors)", weights, file_name="model.safetensors", mime="application/octet-stream", key="dl_weights")
    st.download_button("Download the description (.json)", description, file_name="model.json", mime="application/json", key="dl_json")
with right:
    st.subheader("2 · The code that runs them")
    st.caption(f"`runner.py`: {len(runner_source.splitlines())} lines. Save it next to the parameters and run `python runner.py model.safetensors \"ROMEO:\" 300`.")
    st.code(runner_source, language="python", height=420)
    st.download_button("Download the runner (runner.py)", runner_source, file_name="runner.py", mime="text/x-python", key="dl_runner")
page_link("pages/compression.py", "Compression and cost: the model as a real compressor, and what a model of any size costs", ":material/compress:")

st.header("The same idea at two scales")
record = entry.record
corpus_chars, corpus_tokens = record.get("corpus_chars"), record.get("tokens_in_corpus")
val_loss, elapsed_s = record.get("val_loss"), record.get("elapsed_s")
trained_on = f"{elapsed_s:,.0f} s of training on one {record.get('device', '?').upper()}" if elapsed_s else "not recorded with this model"
ours = {
    "parameters": f"{model.num_params():,}",
    "parameters file": anatomy.human_bytes(len(weights)),
    "training text": f"{corpus_chars:,} characters ({record.get('corpus', '?')})" if corpus_chars else "not recorded with this model",
    "compute": trained_on,
    "cost": f"no money figure: {trained_on}" if elapsed_s else "not recorded with this model",
    "code to run it": f"{len(runner_source.splitlines())} lines of Python (runner.py)",
}
rows = [{"": fact["what"], "Llama 2 70B": fact["value"], entry.name: ours[fact["what"]], "source of the Llama figure": fact["source"]} for fact in anatomy.LLAMA2_70B]
st.html(table_html(rows))
st.markdown(
    f"**Training is lossy compression.** Llama 2 squeezes about {anatomy.human_bytes(anatomy.LLAMA2_70B_TEXT_BYTES)} of text into "
    f"{anatomy.human_bytes(anatomy.LLAMA2_70B_FILE_BYTES)} of parameters, "
    f"about {anatomy.LLAMA2_70B_TEXT_BYTES / anatomy.LLAMA2_70B_FILE_BYTES:.0f}× smaller: it cannot store the text, only its patterns."
)
if val_loss is not None and corpus_chars and corpus_tokens:
    file_bigger = len(weights) > corpus_chars
    predict.checkpoint(
        "overview_file_vs_text",
        f"This model learned from {corpus_chars:,} characters of text. Is its parameters file bigger or smaller than that text?",
        predict.choice(["bigger than the text", "smaller than the text"]),
        lambda guess: predict.Reveal(
            f"Its parameters file is {anatomy.human_bytes(len(weights))}, the text {corpus_chars:,} characters (about {anatomy.human_bytes(corpus_chars)}): "
            f"the file is {'bigger' if file_bigger else 'smaller'}.",
            guess == ("bigger than the text" if file_bigger else "smaller than the text"),
            compression_note(val_loss, corpus_chars, corpus_tokens, len(weights)),
        ),
    )
page_link("pages/scale.py", "Why scale matters: loss against size, data and compute, measured on this machine", ":material/trending_down:")

course.chapter_end("overview")
