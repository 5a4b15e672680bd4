"""Compare two models on one prompt: next-token distributions and their difference, samples with one
seed, the chat answer, the loss token by token on a pasted text, and one head's attention.
The measurements are llm_core.interpret.compare; the figures and pickers lab_ui.compare_view."""

import streamlit as st

from lab_ui import compare_view as cv
from lab_ui import course, state, url_state
from lab_ui.model_files import plain
from lab_ui.shell import ensure_app_shell
from lab_ui.widgets import text_block
from llm_core.alignment.finetune import chat_prompt, is_chat_model
from llm_core.interpret import compare as cmp
from llm_core.text.tokenizers import TokenizerError

ensure_app_shell()  # a deep link to this page on a fresh server must still get app.py's shell

DEFAULT_PROMPT = "ROMEO:\n"
DEFAULT_TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n"  # fits a 128-token window
DEFAULT_REQUEST = "Upper: gentle"  # letters only: a base model trained on Shakespeare can read it too
ERRORS = (TokenizerError, ValueError)

course.chapter_intro("compare")
picked = cv.pickers()
if picked is None:
    st.info("You have one model so far. Train one (Train a model) or fine-tune one (Fine-tune and align): it joins your list, and you can compare it here with the model it came from.")
    st.stop()
a, b = picked
name_a, name_b = f"A ({plain(a.name)})", f"B ({plain(b.name)})"  # names a user chose: never Markdown

with st.expander("Where each model came from (its lineage)", expanded=True):
    la, lb = st.columns(2)
    with la:
        cv.lineage_timeline(a, "cmp_line_a")
    with lb:
        cv.lineage_timeline(b, "cmp_line_b")
    if a.hash == b.hash:
        st.caption("A and B are the same weights (the same content hash): every difference below is zero.")

prompt = url_state.text_box(st.text_area, "Prompt", "cmp_prompt", DEFAULT_PROMPT, height=80)


def guarded(what: str, fn, *args):
    """A measurement, or a one-line reason when this text cannot be read by a model."""
    try:
        return fn(*args)
    except ERRORS as exc:
        st.warning(f"{what}: {plain(str(exc))}")
        return None


# ---------------------------------------------------------------- 1. next token
st.header("1 · The next token")
st.markdown("Each model's probability for every possible next token after the prompt. Tokens are matched by the text they spell, so models with different tokenizers can be compared.")
nxt = guarded("The prompt cannot be read", cmp.compare_next_token, a.model, a.tokenizer, b.model, b.tokenizer, prompt)
if nxt is not None:
    sentence = plain(cmp.next_token_sentence(nxt, "A", "B"))  # token texts come from the models and the prompt: shown literally
    bars, change, table = cv.next_token_figures(nxt, a.name, b.name)
    c1, c2 = st.columns([3, 2])
    with c1:
        cv.chart(bars, "cmp_bars", sentence, table)
    with c2:
        g, lo = nxt.gained, nxt.lost
        cv.chart(change, "cmp_change", plain(f"Blue bars (a plus sign) gained probability from A to B, vermillion hatched bars (a minus sign) lost it: "
                 f"'{g.shown}' moved most up ({cmp.shown_points(g):+d} points) and '{lo.shown}' most down ({cmp.shown_points(lo):+d})."), table)

# ---------------------------------------------------------------- 2. samples
st.header("2 · Samples with the same seed")
st.markdown("Both models draw their next tokens with the same random numbers, so where their texts part, it is the models that differ, not the luck.")
s1, s2, s3 = st.columns(3)
seed = s1.number_input("Seed", 0, 10_000, 0, key="cmp_seed", bind="query-params")
temperature = s2.slider("Temperature", 0.1, 1.5, 0.8, 0.1, key="cmp_temperature", bind="query-params")
length = s3.slider("New tokens", 10, 200, 80, 10, key="cmp_length", bind="query-params")


@st.cache_data(show_spinner=False, max_entries=64)
def _sample(model_hash: str, text: str, n: int, temp: float, seed_: int) -> str:
    e = state.find_by_hash(model_hash)
    return cmp.sample_text(e.model, e.tokenizer, text, n, temp, seed_)


# A prompt the models cannot read was named once, above: not again for each model.
texts = ([guarded(f"{label} cannot continue this prompt", _sample, e.hash, prompt, int(length), float(temperature), int(seed)) for label, e in (("A", a), ("B", b))]
         if nxt is not None else [None, None])
if nxt is None:
    st.caption("The samples wait for a prompt both models can read (section 1 says why this one cannot be read).")
elif None not in texts:
    c1, c2 = st.columns(2)
    c1.markdown(f"**{name_a}**")
    text_block(texts[0] or "(nothing)", where=c1)
    c2.markdown(f"**{name_b}**")
    text_block(texts[1] or "(nothing)", where=c2)
    st.caption(plain(cmp.samples_sentence(texts[0], texts[1], "A", "B")) + ("" if cmp.same_tokenizer(a.tokenizer, b.tokenizer) else
               " (Their tokenizers differ, so the same random number picks from different lists: the seed is shared, the draws are not comparable one for one.)"))

# ---------------------------------------------------------------- 3. chat answers
st.header("3 · The answer to a request (chat format)")
chat = [is_chat_model(e.tokenizer) for e in (a, b)]
if not any(chat):
    st.info("Neither model was fine-tuned to answer requests (their tokenizers have no chat tokens): fine-tune one in Fine-tune and align, then compare it with its base here.")
else:
    request = url_state.text_box(st.text_input, "Request", "cmp_request", DEFAULT_REQUEST)
    answers = []
    for label, e, is_chat in (("A", a, chat[0]), ("B", b, chat[1])):
        text = chat_prompt(e.tokenizer, request) if is_chat else request
        stop = [e.tokenizer.special_tokens["<|end|>"]] if is_chat else []
        answers.append(guarded(f"{label} cannot read this request", lambda m=e, t=text, s=stop: cmp.sample_text(m.model, m.tokenizer, t, 40, 0.0, 0, s)))
    c1, c2 = st.columns(2)
    for col, label, answer, is_chat in ((c1, name_a, answers[0], chat[0]), (c2, name_b, answers[1], chat[1])):
        col.markdown(f"**{label}**" + ("" if is_chat else " · not a chat model: it continues the request as text"))
        text_block(answer if answer else "(no answer)", where=col)
    if None not in answers:
        st.caption("Both give the same answer, greedily (temperature 0)." if answers[0] == answers[1] else
                    f"Greedy answers (temperature 0): they agree on the first {cmp.common_prefix(answers[0], answers[1])} characters of "
                    f"{max(len(answers[0]), len(answers[1]))}.")

# ---------------------------------------------------------------- 4. loss per token
st.header("4 · Which model finds your text easier, token by token")
st.markdown("Paste any text: each model's surprise at each token (its loss, in bits: −log₂ of the probability it gave the token that came) "
            "is spread over the token's characters, so two tokenizers line up character by character.")
text = url_state.text_box(st.text_area, "Text to score", "cmp_text", DEFAULT_TEXT, height=120)
losses = guarded("This text cannot be scored", cmp.compare_losses, a.model, a.tokenizer, b.model, b.tokenizer, text)
if losses is not None:
    fig, table = cv.loss_figure(losses, a.name, b.name)
    read = "" if len(losses.text) == len(text) else f" (the first {len(losses.text):,} characters: what both context windows hold)"
    cv.chart(fig, "cmp_loss", plain(cmp.losses_sentence(losses, "A", "B")) + read, table)

# ---------------------------------------------------------------- 5. attention
st.header("5 · One head's attention, side by side")
why_not = cmp.shapes_agree(a.model, a.tokenizer, b.model, b.tokenizer, prompt) if prompt else "the prompt is empty"
if nxt is None:
    st.caption("The attention waits for a prompt both models can read (section 1 says why this one cannot be read).")
elif why_not:
    st.info(f"Attention is compared head for head only between models of the same shape reading the same tokens: {plain(why_not)}.")
else:
    cfg = a.model.config
    c1, c2 = st.columns(2)
    layer = c1.slider("Layer", 1, cfg.n_layer, 1, key="cmp_layer", bind="query-params")
    head = c2.slider("Head", 1, cfg.n_head, 1, key="cmp_head", bind="query-params")
    pair = guarded("The prompt cannot be read", cmp.attention_pair, a.model, b.model, a.tokenizer, prompt, int(layer) - 1, int(head) - 1, b.tokenizer)
    if pair is not None:
        fig, table = cv.attention_figures(*pair)
        cv.chart(fig, "cmp_attention", f"Layer {layer}, head {head}: " + plain(cmp.attention_sentence(*pair, "A", "B")), table)
