"""The Overview chapter's views: one prompt through the six stages of the pipeline (with its
"Predict, then see" on the next-token probabilities), what LLMs are used for (sourced), the model's
parameters as a chart, and what the model's own run says about compression. A prompt with characters
the model never saw is walked without them (`without`, `unseen_note` say which were dropped).

What it is not: the pipeline itself (llm_core.interpret.walkthrough runs the model) or the route
(lab_ui.course draws it). Every figure here is read from the model, its record or the sources
register (llm_core.literature).
"""

from __future__ import annotations

import dataclasses
import re

import streamlit as st

from lab_ui import charts, palette, predict
from lab_ui.chips import literal
from lab_ui.widgets import page_link, plural, table_html, token_chips
from llm_core import literature
from llm_core.model import anatomy
from llm_core.text.tokenizers import visible_whitespace

SURENESS = {"under 10%": (0, 0.1), "10% to 40%": (0.1, 0.4), "40% to 80%": (0.4, 0.8), "over 80%": (0.8, 1.01)}
USES = ("generation", "open_qa", "brainstorming", "chat", "rewrite", "summarization", "classification", "other", "closed_qa", "extract")


def sureness_band(p: float) -> str:
    """The band of SURENESS a probability falls in.

    >>> sureness_band(0.05), sureness_band(0.62), sureness_band(1.0)
    ('under 10%', '40% to 80%', 'over 80%')
    """
    return next(name for name, (lo, hi) in SURENESS.items() if lo <= p < hi)


def spread_why(top_p: float, tokens_for_90: int, vocab: int) -> str:
    """Why the favourite got what it got, from how many tokens hold 90% of the probability.

    >>> spread_why(0.97, 1, 65).startswith("Its favourite alone holds 90%")
    True
    >>> spread_why(0.31, 9, 65).startswith("It takes its 9 likeliest tokens")
    True
    """
    if tokens_for_90 == 1:
        held = "Its favourite alone holds 90% of the probability: after this prompt only one continuation fits what it learned"
    else:
        held = (f"It takes its {tokens_for_90} likeliest tokens (of {vocab:,}) to hold 90% of the probability: "
                + ("only a few continuations fit what it learned here" if tokens_for_90 <= 4 else "many continuations fit what it learned here, so it spreads its bets"))
    return held + ". A language model gives odds for every possible token, not one answer."


def without(text: str, chars) -> str:
    """`text` without the characters in `chars` (the ones the model never saw).

    >>> without("Héllo 😀 wörld", ["é", "😀", "ö"])
    'Hllo  wrld'
    """
    unwanted = set(chars)
    return "".join(c for c in text if c not in unwanted)


def unseen_note(chars: list[str], known: int, kept: str, used: str) -> str:
    """What the page says when the prompt has characters the model never saw: which, why it cannot read
    them, and what the boxes below show instead (the prompt without them, or the first prompt when
    nothing is left), in plain words.

    The prompt used is quoted with its spaces shown as the token chips show them (Markdown would fold two into one):
    >>> unseen_note(["é", "😀", "ö"], 65, "Hllo  wrld", "Hllo  wrld")  # doctest: +ELLIPSIS
    "This model has never seen 3 characters of your prompt: 'é', '😀', 'ö'. ... The boxes below use your prompt without them: 'Hllo··wrld'."
    >>> unseen_note(["😀"], 65, " ", "To be").endswith("Nothing else is left, so the boxes below use the first prompt instead: 'To·be'.")
    True
    """
    shown = ", ".join(literal(repr(c)) for c in chars[:10]) + (" …" if len(chars) > 10 else "")
    said = (f"This model has never seen {plural(len(chars), 'character')} of your prompt: {shown}. Its tokenizer knows only "
            f"the {plural(known, 'character')} of the text it learned from, so it has no token for "
            f"{'that one' if len(chars) == 1 else 'these'} and cannot read {'it' if len(chars) == 1 else 'them'}.")
    quoted = literal("'" + visible_whitespace(used) + "'")
    if used == kept:
        return said + f" The boxes below use your prompt without {'it' if len(chars) == 1 else 'them'}: {quoted}."
    return said + f" Nothing else is left, so the boxes below use the first prompt instead: {quoted}."


def pipeline(w, vocab: int, temperature: float) -> None:
    """The six boxes: text -> tokens -> vectors -> attention -> probabilities -> sampling -> assistant."""
    c1, c2, c3 = st.columns(3)
    with c1.container(border=True):
        st.markdown("**1 · Text → tokens**")
        token_chips([(p, f"id {i}") for p, i in zip(w.pieces, w.token_ids)], max_tokens=60)
        more = f" and {len(w.token_ids) - 8:,} more" if len(w.token_ids) > 8 else ""
        st.caption(f"{plural(len(w.token_ids), 'token')}, ids {w.token_ids[:8]}{more}. "
                   "In the tokens, `·` stands for a space and `↵` for a new line.")
        page_link("pages/tokenization.py", "Tokenization", ":material/content_cut:")
    with c2.container(border=True):
        st.markdown("**2 · Tokens → vectors**")
        st.caption(f"Each token id picks a row of a learned table: a vector of {w.vector_size} numbers. The last token's first eight:")
        st.text("  ".join(f"{v:+.2f}" for v in w.vector_preview[:4]) + "\n" + "  ".join(f"{v:+.2f}" for v in w.vector_preview[4:]) + "  …")
        page_link("pages/embeddings.py", "Embeddings", ":material/scatter_plot:")
    with c3.container(border=True):
        st.markdown("**3 · Attention mixes them**")
        lines = [f"layer {i}: looks most at token {pos} ('{visible_whitespace(w.pieces[pos])}'), weight {weight:.2f}" for i, (pos, weight) in enumerate(w.attention_source, start=1)]
        st.caption(f"{plural(w.n_layer, 'layer')} × {plural(w.n_head, 'head')}. Where the last token looks, averaged over heads "
                   "(tokens counted from 0: the first token is token 0):")
        st.text("\n".join(lines))
        page_link("pages/attention.py", "Attention", ":material/visibility:")
    c4, c5, c6 = st.columns(3)
    with c4.container(border=True):
        st.markdown("**4 · A probability for every next token**")
        top_piece, top_p = w.next_tokens[0]
        predict.checkpoint(
            "overview_top_probability",
            f"Out of {vocab} possible next tokens, how much probability does the model give its single favourite?",
            predict.choice(list(SURENESS), horizontal=False),
            lambda guess: predict.Reveal(
                f"Its favourite, '{visible_whitespace(top_piece)}', gets {top_p:.0%}; the next four get {sum(p for _, p in w.next_tokens[1:]):.0%} together.",
                sureness_band(top_p) == guess,
                spread_why(top_p, w.tokens_for_90, vocab),
            ),
        )
        if predict.made("overview_top_probability"):
            st.caption(f"Out of {vocab} possible tokens, the most likely next ones:")
            st.text("\n".join(f"{p * 100:5.1f}%  '{visible_whitespace(t)}'" for t, p in w.next_tokens))  # as the chips and the Attention chapter show them
        page_link("pages/generation.py", "Generate", ":material/casino:")
    with c5.container(border=True):
        st.markdown("**5 · Pick one, add it, repeat**")
        st.caption(
            f"{plural(w.new_tokens, 'token')}, each picked at random by the model's odds and added to the text before the next guess. "
            f"**Temperature** {temperature} is a setting that reshapes the odds before each pick: below 1 the likely tokens get "
            "likelier (steadier text), above 1 the odds even out (more surprising text). The **seed** 0 fixes the random "
            "picks, so this prompt always gives this text:"
        )
        st.text(w.continuation)
        page_link("pages/generation.py", "Generate: change the temperature yourself", ":material/casino:")
    with c6.container(border=True):
        st.markdown("**6 · From base model to assistant**")
        st.caption(
            "Pre-training on a large corpus gives a base model that only continues text. Supervised fine-tuning (SFT) on "
            "prompt/response pairs teaches it to follow instructions. In RLHF (reinforcement learning from human feedback, "
            f"as in {literature.cite('ouyang2022')}), people rank the model's answers following written instructions, a reward "
            "model learns those rankings, and the model is optimised against the reward model on its own samples, on a leash "
            f"to where it started; DPO (direct preference optimisation, {literature.cite('rafailov2023')}) skips the reward "
            "model and the sampling and learns from the rankings directly."
        )
        page_link("pages/training.py", "Pre-training", ":material/model_training:")
        page_link("pages/assistant.py", "Fine-tuning and RLHF", ":material/support_agent:")
        page_link("pages/knowing.py", "Hallucination and retrieval", ":material/menu_book:")


def _share(key: str) -> str:
    return f"{literature.value(f'instructgpt_use_{key}'):g}%"


def uses() -> None:
    """What LLMs are used for: a short list, every figure from the sources register."""
    table1 = literature.claim("instructgpt_use_generation").cite()
    st.header("What LLMs are used for")
    st.markdown(
        f"- **Writing and rewriting**: drafts, stories, emails, a text said another way. Of the requests people sent to "
        f"early InstructGPT models through OpenAI's API, {_share('generation')} asked for new text and {_share('rewrite')} "
        f"for a rewrite ({table1}).\n"
        f"- **Answering questions, brainstorming, chatting**: {_share('open_qa')}, {_share('brainstorming')} and "
        f"{_share('chat')} of the same requests. The answers can be wrong while sounding sure: the last chapter measures "
        f"that, and shows how handing the model documents to read helps ({literature.cite('lewis2020')}).\n"
        f"- **Summarising, sorting and pulling facts out of a text you give it**: {_share('summarization')}, "
        f"{_share('classification')} and {_share('extract')}.\n"
        f"- **Writing code**: Codex, a GPT model fine-tuned on code from GitHub, solved "
        f"{literature.value('codex_humaneval_pass1'):g}% of the HumanEval programming problems at the first try and "
        f"{literature.value('codex_humaneval_pass100'):g}% when allowed 100 tries; a version of it ran GitHub Copilot "
        f"({literature.cite('chen2021')}).\n"
        f"- **Translating**: GPT-3, a large model by OpenAI, translated between languages from a few examples in its prompt ({literature.cite('brown2020')})."
    )
    with st.expander(f"All ten kinds of request, by share ({table1})"):
        rows = [{"kind of request": literature.claim(f"instructgpt_use_{k}").what.split("asked for ")[-1],
                 "share": _share(k)} for k in USES]
        st.html(table_html(rows))
    st.caption(
        "Each of these is the same next-token guess, made by a far bigger model trained on far more text, then fine-tuned "
        "(the last chapters show how). The model in this app learned only Shakespeare: it shows how the machine works, "
        "not these skills."
    )


def _biggest(by_part: dict[str, int], total: int, groups) -> str:
    """What the parameters chart shows, ties named as ties (a model's blocks are all the same size).

    >>> from llm_core.model.anatomy import ParamGroup
    >>> gs = [ParamGroup("embeddings", "token embedding", 10, []), ParamGroup("block 0", "MLP", 40, []), ParamGroup("block 0", "norms", 2, []),
    ...       ParamGroup("block 1", "MLP", 40, []), ParamGroup("block 1", "norms", 2, [])]
    >>> _biggest({"embeddings": 10, "block 0": 42, "block 1": 42}, 94, gs)
    'The biggest parts are the 2 blocks, 42 parameters each (45% of all each); the largest single group in each is its MLP (40).'
    >>> _biggest({"embeddings": 50, "block 0": 42}, 92, [ParamGroup("embeddings", "token embedding", 50, []), ParamGroup("block 0", "MLP", 42, [])])
    'The biggest part is embeddings: 50 parameters, 54% of all; the largest single group is embeddings: token embedding (50).'
    """
    top = max(by_part.values())
    parts = [p for p, n in by_part.items() if n == top]
    largest = max(g.count for g in groups)
    tied = [g for g in groups if g.count == largest]
    blocks = [p for p in by_part if p.startswith("block ")]
    if len(parts) == 1:
        first = f"The biggest part is {parts[0]}: {top:,} parameters, {top / total:.0%} of all"
    else:
        who = f"the {len(parts)} blocks" if parts == blocks else f"{', '.join(parts[:-1])} and {parts[-1]}"
        first = f"The biggest parts are {who}, {top:,} parameters each ({top / total:.0%} of all each)"
    if len(tied) == 1:
        return f"{first}; the largest single group is {tied[0].part}: {tied[0].name} ({largest:,})."
    if len({g.name for g in tied}) == 1 and [g.part for g in tied] == parts:
        return f"{first}; the largest single group in each is its {tied[0].name} ({largest:,})."
    named = [f"{g.part}: {g.name}" for g in tied]
    return f"{first}; the largest single groups are {', '.join(named[:-1])} and {named[-1]}, {largest:,} each."


# One colour per kind of parameter group (lab_ui.palette): the same kind reads the same in every block.
GROUP_COLOURS = {
    "token embedding": palette.GREEN, "position embedding": palette.SKY, "attention": palette.BLUE,
    "MLP": palette.ORANGE, "norms": palette.MUTED, "output head": palette.VERMILLION, "final norm": palette.MUTED,
}


def parameters_chart(facts: anatomy.ModelFacts) -> None:
    """Where the model's parameters are: a bar per part of the model (embeddings, each block, the output),
    split into its groups, with its caption and table.

    Drawn as HTML (lab_ui.charts.stacked_bars), not plotly: it is the Overview's only chart, so the first
    page a learner opens asks the browser for no plotly.js (app.py fetches it after the page, for the
    chapters that follow)."""
    # Blocks counted from 1, as the Attention chapter counts its layers (the model's own names count from 0).
    groups = [dataclasses.replace(g, part=re.sub(r"^block (\d+)$", lambda m: f"block {int(m.group(1)) + 1}", g.part)) for g in facts.groups]
    parts = list(dict.fromkeys(g.part for g in groups))  # the model's order: embeddings, block 1..n, output
    total = sum(g.count for g in groups)
    by_part = {p: sum(g.count for g in groups if g.part == p) for p in parts}
    caption = "Each bar's length is its number of parameters. " + _biggest(by_part, total, groups)
    charts.stacked_bars(
        f"{facts.num_params:,} parameters, by part of the model",
        [(p, [(g.name, g.count) for g in groups if g.part == p]) for p in parts],
        GROUP_COLOURS, key="overview_parameters", caption=caption,
        table=[{"part": g.part, "group": g.name, "parameters": g.count, "share": f"{g.count / total:.1%}"} for g in groups],
    )


def storage_note(facts: anatomy.ModelFacts) -> str:
    """How the parameters are stored, read from the model: 'float32, 4 bytes per parameter'."""
    return f"{facts.dtype}, {facts.bytes_per_param} bytes per parameter"


def file_why(facts: anatomy.ModelFacts, file_bytes: int) -> str:
    """Why the file is as big as it is: its parameter count times the bytes each takes."""
    return (f"Each of its {facts.num_params:,} parameters is stored as a number of {facts.bytes_per_param} bytes, "
            f"so its file takes {anatomy.human_bytes(file_bytes)}.")


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


def lossy_compression_sentence() -> str:
    """Training as lossy compression, said as the literature says it (issue 21: not "only its patterns")."""
    ratio = anatomy.LLAMA2_70B_TEXT_BYTES / anatomy.LLAMA2_70B_FILE_BYTES
    return (
        f"**Training is lossy compression.** Llama 2 squeezes about {anatomy.human_bytes(anatomy.LLAMA2_70B_TEXT_BYTES)} of text "
        f"into {anatomy.human_bytes(anatomy.LLAMA2_70B_FILE_BYTES)} of parameters, about {ratio:.0f}× "
        "smaller, so it cannot keep all of the text: mostly it keeps the patterns. Not only the patterns, though: large "
        "models can recite some of their training text word for word. Researchers got GPT-2 to recite hundreds of passages "
        "of its training text verbatim (names, phone numbers, code), some of which appeared in only one document, and "
        f"larger models recited more ({literature.cite('carlini2021')})."
    )
