"""The Attention chapter's per-user cache of inspections and its measured "what does it refer to?"
section. The numbers come from `llm_core.interpret.inspect_model`; the figures from lab_ui.attention_figures.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from llm_core.interpret.inspect_model import RECENT, Inspection, attention_between, inspect_ids, word_positions

CACHE_KEY = "attention_inspections"
CACHE_SIZE = 4


def model_fingerprint(entry) -> tuple:
    # The registry entry, plus a checksum of the weights' content (a sum per parameter, well under a
    # millisecond for the bundled model): a model changed in place is never served a stale inspection.
    with torch.no_grad():
        checksum = torch.stack([p.detach().double().sum() for p in entry.model.parameters()]).tolist()
    return entry.name, entry.created, id(entry.model), tuple(checksum)


def cached_inspection(entry, ids: list[int], window_start):
    """The trace of this window, computed once per (model, prompt, window) for this user."""
    cache = st.session_state.setdefault(CACHE_KEY, {})
    key = (model_fingerprint(entry), tuple(ids), window_start)
    if key not in cache:
        while len(cache) >= CACHE_SIZE:
            cache.pop(next(iter(cache)))
        cache[key] = inspect_ids(entry.model, entry.tokenizer, ids, window_start)
    return cache[key]


def training_text(record: dict) -> str:
    """What the model learned from, as its record says (the text is not guessed).

    >>> training_text({"corpus": "tinyshakespeare", "corpus_chars": 1115394}), training_text({})
    ('1,115,394 characters of text (tinyshakespeare)', 'text its record does not describe')
    """
    chars = record.get("corpus_chars")
    return f"{chars:,} characters of text ({record.get('corpus', 'unnamed')})" if chars else "text its record does not describe"


def show_it_measurement(view: Inspection, tokenizer, unit: str) -> None:
    """Where the tokens of "it" look in the example sentence, measured on this window, head by head."""
    units = f"{unit}s"
    L, H = view.n_layer, view.n_head
    its = word_positions(tokenizer, view.token_ids, "it")
    animals = word_positions(tokenizer, view.token_ids, "animal")
    roads = word_positions(tokenizer, view.token_ids, "road")
    if its and animals and roads:
        query_positions = its[-1]
        before = list(range(max(0, query_positions[0] - RECENT), query_positions[-1] + 1))
        on_animal = attention_between(view.attention, query_positions, animals[-1])  # (L, H)
        on_road = attention_between(view.attention, query_positions, roads[-1])
        nearby = attention_between(view.attention, query_positions, before)
        a_l, a_h = np.unravel_index(int(on_animal.argmax()), on_animal.shape)
        r_l, r_h = np.unravel_index(int(on_road.argmax()), on_road.shape)
        st.markdown(
            f"**Measured on this window**, from the {units} of “it” (positions {query_positions[0]}–{query_positions[-1]}), "
            f"averaged over all {L * H} heads: **{on_animal.mean():.1%}** of the weight lands on “animal”, **{on_road.mean():.1%}** "
            f"on “road”, and **{nearby.mean():.0%}** on “it” itself and the {RECENT} {units} before it. The head that looks "
            f"most at “animal” is layer {a_l + 1}, head {a_h + 1} ({on_animal[a_l, a_h]:.0%}); the one that looks most at "
            f"“road” is layer {r_l + 1}, head {r_h + 1} ({on_road[r_l, r_h]:.0%})."
        )
        table = [
            {"layer": li + 1, "head": h + 1, "on “animal”": float(on_animal[li, h]), "on “road”": float(on_road[li, h]),
             "on “it” and just before": float(nearby[li, h])}
            for li in range(L) for h in range(H)
        ]
        st.dataframe(table, hide_index=True, column_config={k: st.column_config.NumberColumn(format="%.3f") for k in table[0] if k not in ("layer", "head")})
        st.caption(
            "One head with noticeable weight on a noun does not show that the model links “it” to that noun: a character "
            "model may be matching letters or spaces, and only the rest of the network decides whether that information is "
            "used. Pick that head above, and a character of “it” in “Where one character looks”, to see its full pattern."
        )
    else:
        st.caption("Click the example button at the top to measure where “it” looks in this model.")
