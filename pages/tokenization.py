"""Tokenization: how text becomes token ids, five tokenizers side by side, and BPE learning merge by merge."""

import streamlit as st

from lab_ui import charts, course, predict, state, url_state
from lab_ui import tokenization_view as tv
from lab_ui.shell import ensure_app_shell
from lab_ui.text_chapters import (
    MAX_TRAIN_CHARS,
    MAX_TRAIN_MERGES,
    SHAKESPEARE_MERGES,
    bpe_on_text,
    char_tokenizer,
    merge_curve_caption,
    merge_curve_figure,
    merge_curve_table,
    shakespeare_bpe,
    show_pieces,
)
from llm_core import literature
from llm_core.text.tokenview import tokenize_row

ensure_app_shell()  # a deep link to this page on a fresh server must still get app.py's shell

MAX_TEXT_CHARS = 200_000  # the comparison tokenizes at most this much (100,000 characters take well under a second)
MAX_CHIPS = 400  # chips drawn per tokenizer; counts and ids stay exact
MAX_IDS_SHOWN = 400
MAX_SENTENCE_CHARS = 2_000

EXAMPLES = {
    "Shakespeare": "ROMEO: But, soft! what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n\n"
    "Arise, fair sun, and kill the envious moon,\nWho is already sick and pale with grief.",
    "English": "Tokenizers split text into pieces. Common words like \"the\" are one token; rare ones such as "
    "\"antidisestablishmentarianism\" break into several.",
    "Code": "def greet(name):\n    if not name:\n        return None\n    return f\"Hello, {name}!\"  # 4 spaces of indent\n",
    "Numbers": "In 2024, 1234567 + 89 = 1234656. Pi is about 3.14159; 1,000,000 has six zeros.",
    "Other languages": "Français : déjà vu. Deutsch: Straßenbahn. Русский: привет, мир.\n"
    "日本語: こんにちは。中文: 你好，世界。한국어: 안녕하세요. العربية: مرحبا",
    "Emoji": "I love pizza 🍕! Thumbs up 👍🏽, family 👨‍👩‍👧, flag 🇫🇷, heart ❤️",
    "Whitespace": "    four spaces\n\ttab\n\n\ntwo blank lines, then   three spaces   ",
}
DEFAULT_SENTENCE = "To be, or not to be, that is the question."


def use_example(name: str) -> None:
    st.session_state["tok_text"] = EXAMPLES[name]


course.chapter_intro("tokenization")
st.markdown(
    "**On this page:** 1. [Predict first](#predict-first) · 2. [Your text through five tokenizers](#your-text) · "
    "3. [How BPE learns its pieces, merge by merge](#how-bpe-learns)"
)

# --- the tokenizers every section uses ---
char_tok, char_source = char_tokenizer()
ours = shakespeare_bpe()
gpt2, cl100k, o200k = (state.tiktoken_tokenizer(name) for name in ("r50k_base", "cl100k_base", "o200k_base"))

st.header("1 · Predict first", anchor="predict-first")
st.markdown(
    "The tokenizers in the guesses below: **GPT-2**'s, **GPT-4**'s (named *cl100k*: about 100,000 pieces) and **GPT-4o**'s "
    "(*o200k*: about 200,000), made by OpenAI from huge amounts of web text, and **LLM Lab BPE**, made here from Tiny Shakespeare. "
    "All four use **BPE** (byte-pair encoding): starting from single bytes, they repeatedly join the pair of pieces seen most often "
    "into one new piece. Section 3 shows it happen."
)
tv.predictions(gpt2, cl100k, o200k, ours.tokenizer)

# --- the side-by-side comparison ---
st.header("2 · Your text through five tokenizers", anchor="your-text")
st.markdown(
    "A model reads **numbers**, not letters. A *tokenizer* cuts text into pieces from a fixed vocabulary "
    "and replaces each piece by its id. Fewer, longer pieces mean more text fits in the model's context, "
    "but a bigger vocabulary to learn. Below, the same text through each tokenizer: hover over a chip, or tap it "
    "on a phone, to see its id and bytes (each tab also lists them as text)."
)
with st.container(horizontal=True):
    st.caption("Examples, one click away:")
    code_waits = predict.made(tv.CODE_KEY) is None  # the Code example's counts are section 1's code question, answered
    for name in EXAMPLES:
        st.button(name, key=f"tok_example_{name}", on_click=use_example, args=(name,), disabled=name == "Code" and code_waits,
                  help="Its counts answer the code question in section 1: lock in your guess there first." if name == "Code" and code_waits else None)

text = url_state.text_box(st.text_area, "Text to tokenize", "tok_text", EXAMPLES["Shakespeare"], height=150, max_chars=MAX_TEXT_CHARS)
st.caption("In the chips: `·` is a space, `↵` a newline, `→` a tab, `␇`-style symbols are control characters, "
           "and `<0xNN>` is a single byte that is only part of a character.")

# (short name for the table, tabs and chart, full label, tokenizer)
tokenizers = [
    ("Characters", f"Characters ({char_source})", char_tok),
    ("LLM Lab BPE", f"LLM Lab BPE ({SHAKESPEARE_MERGES:,} merges on Tiny Shakespeare)", ours.tokenizer),
]
current = state.current()
if current.tokenizer.kind == "bpe":
    tokenizers.append(("Current model's BPE", f"Current model's BPE ({current.name})", current.tokenizer))
tokenizers += [(tok.label, tok.label, tok) for tok in (gpt2, cl100k, o200k)]

if not text:
    st.info("Type or paste some text above (or pick an example) to see it tokenized.")
else:
    rows = [tokenize_row(tok, text, label=label, max_pieces=MAX_CHIPS) for _, label, tok in tokenizers]
    short_names = [short for short, _, _ in tokenizers]
    left, right = st.columns([3, 2])
    with left:
        tv.comparison_table(rows, short_names)
    with right:
        tv.counts_chart(rows, short_names, text, code_texts=(EXAMPLES["Code"],))  # its fewest waits for the code guess
    tv.tokenizer_tabs(rows, short_names, char_source, MAX_IDS_SHOWN)
    with st.expander("The details: byte-level BPE"):
        st.markdown(
            "GPT-2, GPT-4 and GPT-4o use *byte-level* BPE (byte-pair encoding, "
            f"{literature.cite('sennrich2016')}; byte-level in {literature.cite('radford2019')}): text is UTF-8 bytes, "
            "and frequent byte sequences were merged into tokens during training. A character the training data rarely "
            "showed (an emoji, a Korean syllable) falls apart into several byte tokens shown as `<0xNN>`; the bigger "
            f"vocabularies (cl100k: {cl100k.vocab_size:,} tokens, o200k: {o200k.vocab_size:,}) cover more languages with whole tokens."
        )

# --- BPE training, merge by merge ---
st.header("3 · How BPE learns its pieces, merge by merge", anchor="how-bpe-learns")
st.markdown(
    f"Byte-pair encoding (BPE, {literature.cite('sennrich2016')}) starts from the 256 possible bytes. It counts every pair of neighbouring tokens in the "
    "training text, merges the most frequent pair into a new token, and repeats. Each merge adds one token to the "
    "vocabulary and makes the text one token shorter wherever the pair occurs (in \"aaa\" only once). Merges never cross "
    "chunk boundaries (words, numbers, punctuation, whitespace), as in GPT-2."
)
source = st.radio(
    "Train on", [f"Tiny Shakespeare (bundled, {len(state.corpus('tinyshakespeare')):,} characters)", "The text above"], horizontal=True, key="bpe_source", bind="query-params"
)

run = None
if source.startswith("Tiny"):
    run = shakespeare_bpe()
    st.caption(f"{run.n_chars:,} characters, {SHAKESPEARE_MERGES:,} merges (trained by LLM Lab's own code, once, with "
               "`python -m llm_core.text.shipped_bpe`, and shipped with the app; the comparison above uses this tokenizer).")
else:
    n_merges = st.slider("Merges to learn", 1, MAX_TRAIN_MERGES, 200, key="bpe_user_merges", bind="query-params")
    if not text:
        st.info("Type or paste some text above to train on it, or train on Tiny Shakespeare.")
    else:
        if len(text) > MAX_TRAIN_CHARS:
            st.warning(f"Your text has {len(text):,} characters; training here uses the first {MAX_TRAIN_CHARS:,} to stay quick.")
        run = bpe_on_text(text[:MAX_TRAIN_CHARS], n_merges)
        if 0 < run.learned < run.requested:
            st.info(
                f"Only {run.learned:,} of the {run.requested:,} merges {'was' if run.learned == 1 else 'were'} learned. BPE first splits the text into "
                "pieces (a word with the space before it, a run of punctuation, of digits, of spaces) and merges only inside a piece; after "
                f"merge {run.learned:,} no pair of neighbouring tokens inside a piece occurs twice, so another merge would not shorten anything "
                "(a piece repeated a thousand times is one token already). Text with more different words gives more merges."
            )

if run is not None and run.learned == 0:
    st.warning("Nothing to merge: no pair of neighbouring bytes occurs twice in this text. Try a longer text.")
elif run is not None:
    sentence = url_state.text_box(st.text_input, "A sentence to watch", "bpe_sentence", DEFAULT_SENTENCE, max_chars=MAX_SENTENCE_CHARS)
    slider_key = "bpe_merge"  # one key for both sources, so a link keeps the merge shown (clamped to what was learned)
    n = run.learned
    st.session_state.setdefault(slider_key, min(n, 50))
    st.session_state[slider_key] = min(st.session_state[slider_key], n)
    playing = st.session_state.get("bpe_playing", False)

    def toggle_play() -> None:
        now = not st.session_state.get("bpe_playing", False)
        st.session_state["bpe_playing"] = now
        if now and st.session_state.get(slider_key, 0) >= n:
            st.session_state[slider_key] = 0  # play again from the start

    st.button("⏸ Pause" if playing else "▶ Play the merges", key="bpe_play", on_click=toggle_play)

    @st.fragment(run_every=0.6 if playing else None)
    def merge_view() -> None:
        if st.session_state.get("bpe_playing", False):
            value = st.session_state.get(slider_key, 0)
            if value >= n:
                st.session_state["bpe_playing"] = False
                st.rerun()  # the whole page, so the timer stops and the button says Play again
            st.session_state[slider_key] = min(n, value + max(1, n // 60))
        k = st.slider("Merge number", 0, n, key=slider_key, bind="query-params", help="0 = bytes only; each step adds one merge.")
        replay = run.replay
        counts = replay.token_counts
        c1, c2, c3 = st.columns(3)
        c1.metric("Vocabulary", f"{replay.vocab_sizes[k]:,} tokens", f"+{k:,} merges" if k else None)
        c2.metric("Training text", f"{counts[k]:,} tokens", f"{(counts[k] - counts[0]) / counts[0]:.1%}" if k else None, delta_color="inverse")
        if k:
            step = replay.steps[k - 1]
            c3.metric(f"Merge {k}", f"{step.left!r} + {step.right!r} → {step.new_text!r}", f"{step.occurrences:,} occurrences", delta_color="off", delta_arrow="off")
        else:
            c3.metric("Merge 0", "bytes only", "256 tokens", delta_color="off", delta_arrow="off")

        charts.chart(merge_curve_figure(replay, k), key="bpe_curve", caption=merge_curve_caption(replay, k), table=merge_curve_table(replay))

        left, right = st.columns([3, 2])
        with left:
            st.markdown(f"**Your sentence after {k:,} merges**")
            if not sentence:
                st.info("Type a sentence above to watch it being re-tokenized.")
            else:
                row = tokenize_row(run.tokenizer, sentence, max_pieces=300, max_merges=k)
                show_pieces(row.pieces, total=row.count)
                st.caption(f"{row.count:,} tokens for {len(sentence):,} characters ({row.n_bytes:,} bytes).")
        with right:
            st.markdown("**The latest merges**")
            recent = replay.steps[max(0, k - 8):k][::-1]
            if recent:
                st.html(charts.data_table_html(
                    [{"merge": s.merge, "pair": f"{s.left!r} + {s.right!r}", "new token": repr(s.new_text),
                      "occurrences": s.occurrences} for s in recent], formats={"merge": ",", "occurrences": ","}))
            else:
                st.caption("No merges yet: every token is a single byte.")

    merge_view()


course.chapter_end("tokenization")
