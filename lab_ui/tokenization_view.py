"""The Tokenization chapter's views: its two "Predict, then see" checkpoints and the side-by-side
comparison of the learner's text across tokenizers.

- `predictions(...)`: how many tokens GPT-2 needs for a German sentence against its English twin,
  and which tokenizer needs the fewest tokens for a piece of Python code. Both reveals are
  computed when they are shown, with the real tokenizers, and say why from what they counted
  (words kept whole, whitespace tokens).
- `comparison(...)`: the counts as a table and a chart (lab_ui.charts), and each tokenizer's chips
  in a tab of its own, with the same information as text (a phone has no hover). The chart's caption
  names the tokenizer that needs the fewest tokens for code only once the code question is locked.

What it is not: the tokenizers (llm_core.text) or BPE's merge-by-merge view (pages/tokenization.py).
"""

from __future__ import annotations

import streamlit as st

from lab_ui import charts, palette, predict
from lab_ui.chips import literal
from lab_ui.text_chapters import pieces_table, show_pieces
from lab_ui.widgets import table_html, text_block
from llm_core import literature
from llm_core.text.tokenizers import visible_whitespace
from llm_core.text.tokenview import fewest, whitespace_tokens, whole_words, word_pieces

# The same sentence in five languages (the English one is the twin the question starts from).
TWINS = {
    "English": "The weather is nice today, so we are going for a walk in the park.",
    "German": "Das Wetter ist heute schön, also gehen wir im Park spazieren.",
    "French": "Il fait beau aujourd'hui, alors nous allons nous promener dans le parc.",
    "Russian": "Сегодня хорошая погода, поэтому мы идём гулять в парк.",
    "Japanese": "今日は天気がいいので、公園に散歩に行きます。",
}
RATIO_BANDS = {"fewer than the English": (0.0, 1.0), "about as many (up to 10% more)": (1.0, 1.1),
               "10% to 50% more": (1.1, 1.5), "more than 50% more": (1.5, float("inf"))}
CODE_SAMPLE = '''def count_words(text):
    counts = {}
    for word in text.split():
        word = word.lower()
        if word in counts:
            counts[word] += 1
        else:
            counts[word] = 1
    return counts
'''


def ratio_band(ratio: float) -> str:
    """The band of RATIO_BANDS a token ratio (German / English) falls in.

    >>> ratio_band(1.35), ratio_band(1.0), ratio_band(0.9)
    ('10% to 50% more', 'about as many (up to 10% more)', 'fewer than the English')
    """
    return next(name for name, (lo, hi) in RATIO_BANDS.items() if lo <= ratio < hi)


def split_words_text(pieces: list[tuple[str, list[str]]], most: int = 2) -> str:
    """The words cut into the most pieces, as `·sp|az|ie|ren` (for a sentence of the reveal).

    >>> split_words_text([(" the", [" the"]), (" spazieren", [" sp", "az", "ie", "ren"]), (" Wetter", [" Wet", "ter"])])
    '`·sp|az|ie|ren`, `·Wet|ter`'
    """
    words = [(chunk, p) for chunk, p in pieces if len(p) > 1 and any(c.isalpha() for c in chunk)]
    words.sort(key=lambda w: -len(w[1]))
    return ", ".join(f"`{'|'.join(visible_whitespace(x) for x in p)}`" for _, p in words[:most])


def twins_table(tokenizers: dict) -> list[dict]:
    """Tokens for each language's sentence, per tokenizer (label -> tokenizer)."""
    return [{"language": lang, "characters": len(text), **{label: len(tok.encode(text)) for label, tok in tokenizers.items()}}
            for lang, text in TWINS.items()]


def german_reveal(gpt2, o200k, guess: str) -> predict.Reveal:
    en, de = len(gpt2.encode(TWINS["English"])), len(gpt2.encode(TWINS["German"]))
    band = ratio_band(de / en)
    en_words, de_words = word_pieces(gpt2, TWINS["English"]), word_pieces(gpt2, TWINS["German"])
    (we, ne), (wd, nd) = whole_words(en_words), whole_words(de_words)
    split = split_words_text(de_words)
    o_en, o_de = len(o200k.encode(TWINS["English"])), len(o200k.encode(TWINS["German"]))
    return predict.Reveal(
        f"GPT-2 needs **{de} tokens** for the German sentence and {en} for the English: {de / en:.2f}× as many ({band}).",
        guess == band,
        f"GPT-2 keeps {we} of the English sentence's {ne} words whole, one token each, but only {wd} of the German's {nd}"
        + (f": {split}" if split else "")
        + f". Its vocabulary was learned from mostly English web text ({literature.cite('radford2019')}), so German words fall "
        f"into pieces. GPT-4o's tokenizer (o200k), with {o200k.vocab_size / gpt2.vocab_size:.0f} times GPT-2's vocabulary, needs "
        f"{o_de} tokens for the German and {o_en} for the English.",
    )


def code_reveal(candidates: dict, guess: str) -> predict.Reveal:
    ids = {label: tok.encode(CODE_SAMPLE) for label, tok in candidates.items()}
    counts = {label: len(v) for label, v in ids.items()}
    winners = fewest(counts)
    space = {label: whitespace_tokens(candidates[label], ids[label]) for label in candidates}
    longest = {label: max((len(candidates[label].token_bytes(i)) for i in ids[label] if not candidates[label].token_bytes(i).strip()), default=0)
               for label in candidates}
    best = winners[0]
    others = ", ".join(f"{label} {n}" for label, n in counts.items() if label not in winners)
    cost = ", ".join(f"{label} {space[label]} of its {counts[label]}" for label in candidates)
    one_each = [label for label in candidates if longest[label] == 1]
    if longest[best] > 1:
        how = (f"{best}'s vocabulary has single tokens for runs of spaces and line breaks (the longest it used here: {longest[best]} characters)"
               + (f", while {' and '.join(one_each)} spend one token per space." if one_each else "."))
    else:
        how = f"{best} cuts the words themselves into fewer pieces."
    return predict.Reveal(
        f"**{' and '.join(winners)}** {'tie' if len(winners) > 1 else 'needs the fewest'} with {counts[best]} tokens; {others}.",
        guess in winners,
        f"Most of the difference is the indentation. Spaces and line breaks alone cost {cost} tokens. {how}",
    )


def predictions(gpt2, cl100k, o200k, ours) -> None:
    """The chapter's two checkpoints, side by side on a wide screen."""
    left, right = st.columns(2)
    with left:
        en = len(gpt2.encode(TWINS["English"]))
        result = predict.checkpoint(
            "tokenization_german_english",
            f"GPT-2's tokenizer cuts the English sentence *{TWINS['English']}* into {en} tokens. How many does it need for the "
            f"same sentence in German, *{TWINS['German']}*?",
            predict.choice(list(RATIO_BANDS), horizontal=False),
            lambda guess: german_reveal(gpt2, o200k, guess),
        )
        if result is not None:
            st.markdown("**The same sentence in five languages** (tokens):")
            st.html(table_html(twins_table({"GPT-2": gpt2, "GPT-4 (cl100k)": cl100k, "GPT-4o (o200k)": o200k})))
    with right:
        candidates = {"LLM Lab BPE": ours, "GPT-2": gpt2, "GPT-4 (cl100k)": cl100k, "GPT-4o (o200k)": o200k}
        predict.checkpoint(
            "tokenization_code_fewest",  # CODE_KEY, written out: tests/test_course.py reads the keys from the source
            "Which tokenizer needs the fewest tokens for this piece of Python code (below)?",
            predict.choice(list(candidates), horizontal=False),
            lambda guess: code_reveal(candidates, guess),
        )
        text_block(CODE_SAMPLE)


CODE_KEY = "tokenization_code_fewest"  # the checkpoint "which tokenizer needs the fewest tokens for this code?"


def counts_chart(rows, short_names: list[str], text: str, code_texts: tuple[str, ...] = ()) -> None:
    """A bar per tokenizer, its length its token count: HTML bars (lab_ui.charts.stacked_bars), every count
    printed, so a class opening this chapter together does not each draw a plotly chart for five numbers.
    On code (`code_texts`: the page's Code example, one click away, and the question's own sample) its
    caption names the tokenizer that needs the fewest tokens only once the code question (section 1) is
    locked: before, that sentence would be the question's answer. The counts stay in the bars and the table."""
    counts = [row.count for row in rows]
    # A tokenizer that dropped characters it has no id for read less of the text: its count is not compared.
    by_name = {name: row.count for name, row in zip(short_names, rows) if not row.unknown_count}
    dropped = [(name, row.unknown_count) for name, row in zip(short_names, rows) if row.unknown_count]
    left_out = "".join(f" {name} is left out: it has no id for {n:,} character{'s' if n != 1 else ''} of this text, so it read less of it."
                       for name, n in dropped)
    if by_name and text.strip() in {t.strip() for t in (*code_texts, CODE_SAMPLE)} and predict.made(CODE_KEY) is None:
        caption = ("Fewer tokens means more text fits in a model's context. Which tokenizer needs the fewest tokens for this code "
                   f"is said here once you have locked in your guess on the code question in section 1, Predict first.{left_out}")
    elif by_name:
        low, high = fewest(by_name), max(by_name, key=by_name.get)
        caption = (f"{' and '.join(low)} {'need' if len(low) > 1 else 'needs'} the fewest tokens for this text ({by_name[low[0]]:,}), "
                   f"{high} the most ({by_name[high]:,}): fewer tokens means more text fits in a model's context.{left_out}")
    else:
        caption = f"Fewer tokens means more text fits in a model's context.{left_out}"
    # what the bars show, and only that: the table beside the chart has every column
    charts.stacked_bars(f"Tokens for {len(text):,} characters ({rows[0].n_bytes:,} bytes)",
                        [(name, [("tokens", n)]) for name, n in zip(short_names, counts)],
                        {"tokens": palette.BLUE}, key="tok_counts", caption=caption,
                        table=[{"tokenizer": name, "tokens": row.count} for name, row in zip(short_names, rows)])


def comparison_rows(rows, short_names: list[str]) -> list[dict]:
    return [{"tokenizer": short, "vocabulary": row.vocab_size, "tokens": row.count,
             "chars per token": row.chars_per_token or None, "chars without id": row.unknown_count}
            for short, row in zip(short_names, rows)]


def comparison_table(rows, short_names: list[str]) -> None:
    """The counts side by side, as a static HTML table (every number readable by a screen reader and
    on a phone, no data grid to load)."""
    st.html(charts.data_table_html(comparison_rows(rows, short_names),
                                   formats={"vocabulary": ",", "tokens": ",", "chars per token": ".2f", "chars without id": ","}))
    st.caption("*Chars per token*: characters of your text per token (more means longer pieces). "
               "*Chars without id*: characters the tokenizer has no id for, so a model using it cannot read them.")


def tokenizer_tabs(rows, short_names: list[str], char_source: str, max_ids: int) -> None:
    """One tab per tokenizer with its chips (hover or tap one for its id and bytes); below, in one expander, the
    same as text, tokenizer by tokenizer. (No expander inside a tab: a closed one in a hidden tab cannot be opened.)"""
    for tab, row in zip(st.tabs(short_names), rows):
        with tab:
            per = f"{row.chars_per_token:.2f} characters per token" if row.chars_per_token else "no tokens"
            st.markdown(f"**{row.label}**: vocabulary {row.vocab_size:,} · **{row.count:,} tokens** · {per}")
            show_pieces(row.pieces, total=row.total_pieces)
            if row.unknown:
                shown = ", ".join(literal(repr(c)) for c in row.unknown[:12]) + (" …" if len(row.unknown) > 12 else "")
                st.warning(
                    f"This character tokenizer ({char_source}) learned its {row.vocab_size} characters from its training text and has "
                    f"**never seen {len(row.unknown)} of the characters here** ({shown}; {row.unknown_count:,} "
                    f"occurrence{'s' if row.unknown_count != 1 else ''}, crossed out in red). It has no id for them, so a character-level model cannot "
                    "read them at all: no row of its embedding table stands for them. They are left out of the "
                    "count. Byte-level BPE never has this problem: every character is a few UTF-8 bytes, and all "
                    "256 bytes are in its vocabulary, so an unusual character just costs more tokens."
                )
    # Drawn once opened: five tables and five id lists that every browser would otherwise build hidden
    # (about 0.1 s of a browser's CPU on the chapter's first visit, which a class makes together).
    as_text = st.expander("Each token as text: its id and bytes, tokenizer by tokenizer", key="tok_as_text", on_change="rerun")
    if not as_text.open:
        return
    with as_text:
        for tab, short, row in zip(st.tabs(short_names), short_names, rows):
            with tab:
                st.html(table_html(pieces_table(row.pieces)))
                if row.pieces_cut:
                    st.caption(f"The first {len(row.pieces):,} tokens of {row.total_pieces:,}.")
                shown_ids = row.ids[:max_ids]
                ids_text = ", ".join(map(str, shown_ids)) + (f", … ({row.count - max_ids:,} more)" if row.count > max_ids else "")
                st.markdown(f"**The ids the model reads ({short}):**")
                text_block(f"[{ids_text}]")
