"""Tokenization: how text becomes token ids, five tokenizers side by side, and BPE learning merge by merge."""

import plotly.graph_objects as go
import streamlit as st

from lab_ui import course, state, url_state
from lab_ui.chips import literal
from lab_ui.shell import ensure_app_shell
from lab_ui.text_chapters import (
    MAX_TRAIN_CHARS,
    MAX_TRAIN_MERGES,
    SHAKESPEARE_MERGES,
    bpe_on_text,
    char_tokenizer,
    merge_curve_figure,
    shakespeare_bpe,
    show_pieces,
)
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
    "A model reads **numbers**, not letters. A *tokenizer* cuts text into pieces from a fixed vocabulary "
    "and replaces each piece by its id. Fewer, longer pieces mean more text fits in the model's context, "
    "but a bigger vocabulary to learn. Below, the same text through each tokenizer: hover a chip to see "
    "its id and bytes."
)

st.caption("Examples, one click away:")
example_columns = st.columns(len(EXAMPLES))
for column, name in zip(example_columns, EXAMPLES):
    column.button(name, key=f"tok_example_{name}", on_click=use_example, args=(name,), width="stretch")

text = url_state.text_box(st.text_area, "Text to tokenize", "tok_text", EXAMPLES["Shakespeare"], height=150, max_chars=MAX_TEXT_CHARS)
st.caption("In the chips: `·` is a space, `↵` a newline, `→` a tab, `␇`-style symbols are control characters, "
           "and `<0xNN>` is a single byte that is only part of a character.")

# --- the side-by-side comparison ---
char_tok, char_source = char_tokenizer()
ours = shakespeare_bpe()
# (short name for the table and chart, full label, tokenizer)
tokenizers = [
    ("Characters", f"Characters ({char_source})", char_tok),
    ("LLM Lab BPE", f"LLM Lab BPE ({SHAKESPEARE_MERGES:,} merges on Tiny Shakespeare)", ours.tokenizer),
]
current = state.current()
if current.tokenizer.kind == "bpe":
    tokenizers.append(("Current model's BPE", f"Current model's BPE ({current.name})", current.tokenizer))
for name in ("r50k_base", "cl100k_base", "o200k_base"):
    tok = state.tiktoken_tokenizer(name)
    tokenizers.append((tok.label, tok.label, tok))

if not text:
    st.info("Type or paste some text above (or pick an example) to see it tokenized.")
else:
    rows = [tokenize_row(tok, text, label=label, max_pieces=MAX_CHIPS) for _, label, tok in tokenizers]
    short_names = [short for short, _, _ in tokenizers]
    left, right = st.columns([3, 2])
    with left:
        st.dataframe(
            [
                {
                    "tokenizer": short,
                    "vocabulary": row.vocab_size,
                    "tokens": row.count,
                    "chars per token": round(row.chars_per_token, 2) if row.chars_per_token else None,
                    "chars without id": row.unknown_count,
                }
                for short, row in zip(short_names, rows)
            ],
            hide_index=True,
            width="stretch",
            column_config={
                "vocabulary": st.column_config.NumberColumn(format="localized"),
                "tokens": st.column_config.NumberColumn(format="localized"),
                "chars without id": st.column_config.NumberColumn(format="localized", help="characters the tokenizer has no id for"),
            },
        )
    with right:
        fig = go.Figure(go.Bar(
            x=[row.count for row in rows], y=short_names,
            orientation="h", text=[f"{row.count:,}" for row in rows], textposition="auto", marker_color="#6366f1",
            hovertemplate="%{y}: %{x:,} tokens<extra></extra>",
        ))
        fig.update_layout(
            title=f"Tokens for {len(text):,} characters ({rows[0].n_bytes:,} bytes)", height=260,
            margin=dict(t=40, l=0, r=10, b=0), yaxis=dict(autorange="reversed"), xaxis_title="tokens",
        )
        st.plotly_chart(fig, key="tok_counts")

    for row in rows:
        with st.container(border=True):
            info, chips = st.columns([1, 4])
            with info:
                st.markdown(f"**{row.label}**")
                per = f"{row.chars_per_token:.2f} characters per token" if row.chars_per_token else "no tokens"
                st.caption(f"vocabulary {row.vocab_size:,}  \n**{row.count:,} tokens** · {per}")
            with chips:
                show_pieces(row.pieces, total=row.total_pieces)
                shown_ids = row.ids[:MAX_IDS_SHOWN]
                ids_text = ", ".join(map(str, shown_ids)) + (f", … ({row.count - MAX_IDS_SHOWN:,} more)" if row.count > MAX_IDS_SHOWN else "")
                st.code(f"[{ids_text}]", language=None, wrap_lines=True)
                if row.unknown:
                    shown = ", ".join(literal(repr(c)) for c in row.unknown[:12]) + (" …" if len(row.unknown) > 12 else "")
                    st.warning(
                        f"This character tokenizer ({char_source}) learned its {row.vocab_size} characters from its training text and has "
                        f"**never seen {len(row.unknown)} of the characters here** ({shown}; {row.unknown_count:,} "
                        "occurrences, crossed out in red). It has no id for them, so a character-level model cannot "
                        "read them at all: no row of its embedding table stands for them. They are left out of the "
                        "count. Byte-level BPE never has this problem: every character is a few UTF-8 bytes, and all "
                        "256 bytes are in its vocabulary, so an unusual character just costs more tokens."
                    )
    st.caption(
        "GPT-2, GPT-4 and GPT-4o use *byte-level* BPE: text is UTF-8 bytes, and frequent byte sequences were merged "
        "into tokens during training. A character the training data rarely showed (an emoji, a Korean syllable) "
        "falls apart into several byte tokens shown as `<0xNN>`; the bigger vocabularies (cl100k: 100k, o200k: 200k) "
        "cover more languages with whole tokens."
    )

# --- BPE training, merge by merge ---
st.header("How BPE learns its vocabulary, merge by merge")
st.markdown(
    "Byte-pair encoding starts from the 256 possible bytes. It counts every pair of neighbouring tokens in the "
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
    st.caption(f"{run.n_chars:,} characters, {SHAKESPEARE_MERGES:,} merges (trained once per server; the comparison above uses this tokenizer).")
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
                f"Only {run.learned:,} of the {run.requested:,} merges were learned: after that, no pair of tokens occurs "
                "twice in your text, so another merge would not shorten anything. Longer text gives more merges."
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

        st.plotly_chart(merge_curve_figure(replay, k), key="bpe_curve")

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
                st.dataframe(
                    [{"merge": s.merge, "pair": f"{s.left!r} + {s.right!r}", "new token": repr(s.new_text),
                      "occurrences": s.occurrences} for s in recent],
                    hide_index=True, width="stretch",
                )
            else:
                st.caption("No merges yet: every token is a single byte.")

    merge_view()


course.chapter_end("tokenization")
