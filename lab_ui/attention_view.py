"""The Attention chapter's views: the per-user cache of inspections, every chart with its computed
caption and data table (through lab_ui.charts), and the chapter's two "Predict, then see"
checkpoints (where "it" looks in the example sentence; at which block the logit lens first puts the
model's guess on top), each revealed from the current model at that moment.

The numbers come from `llm_core.interpret.inspect_model`; the figures from lab_ui.attention_figures.
What it is not: the page's story and its order (pages/attention.py).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from lab_ui import charts, palette, predict
from lab_ui.attention_figures import (
    HEAD_MAP_ASPECT,
    contributions_figure,
    grid_aspect,
    grid_css,
    grid_figure,
    head_figure,
    head_map_css,
    lens_figure,
    residual_figure,
    short,
    upright_across,
)
from lab_ui.chips import literal
from llm_core import literature
from llm_core.interpret.inspect_model import (
    RECENT,
    Inspection,
    head_role,
    inspect_ids,
    it_looks,
    lens_forming,
    lens_summary,
)
from llm_core.text.tokenizers import TokenizerError, visible_whitespace

CACHE_KEY = "attention_inspections"
CACHE_SIZE = 4
EXAMPLE = "The animal didn't cross the road because it was too wide"


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


def quoted(piece: str) -> str:
    return f"'{literal(piece)}'"


# ---- the charts, each with a caption computed from its numbers and its data as rows ---------------

def head_chart(view: Inspection, layer: int, head: int, unit: str) -> None:
    units = f"{unit}s"
    att = view.attention[layer, head]
    T = att.shape[0]
    s = view.head(layer, head)
    rows = []
    for q in range(T):
        order = list(np.argsort(-att[q, : q + 1], kind="stable")[:3])
        row = {"position": q, unit: view.pieces[q]}
        for rank in range(3):  # a row sees only q+1 keys: the ranks it lacks show a dash
            k = order[rank] if rank < len(order) else None
            row[f"looks at #{rank + 1}"] = "–" if k is None else f"{k}: {view.pieces[k]}"
            row[f"weight #{rank + 1}"] = "–" if k is None else f"{att[q, k]:.4f}"
        row["on itself"] = f"{att[q, q]:.4f}"
        rows.append(row)
    if T >= 2:
        q, k = np.unravel_index(int(np.tril(att, -1).argmax()), att.shape)
        caption = (
            f"Layer {layer + 1}, head {head + 1} looks mostly at: {head_role(s, unit)}. Averaged over its rows, "
            f"{s.previous:.0%} of the weight goes to the previous {unit} and {s.self_weight:.0%} to the {unit} itself; its "
            f"strongest look back is from {q} {quoted(view.pieces[q])} to {k} {quoted(view.pieces[k])} ({att[q, k]:.2f}). "
            f"Brighter = more weight; the grey cells above the diagonal are the causal mask: a {unit} never sees later {units}."
        )
    else:
        caption = f"A single {unit} can only look at itself: its one weight is 1."
    charts.chart(head_figure(view, layer, head, unit), key="attention_head_map", caption=caption, table=rows,
                 table_label="Where each row looks most, as a table", aspect=HEAD_MAP_ASPECT,
                 box_css=lambda box: head_map_css(box, [short(p) for p in view.pieces], upright_across(unit, T)))


def grid_chart(view: Inspection, layer: int, head: int, unit: str) -> None:
    roles = [head_role(s, unit) for s in view.heads]
    titles = [f"<b>L{s.layer + 1} H{s.head + 1}</b><br>{r}" for s, r in zip(view.heads, roles)]
    counts = {r: roles.count(r) for r in dict.fromkeys(roles)}
    caption = (
        f"Layers down, heads across; the outlined tile is layer {layer + 1}, head {head + 1}. On this prompt the "
        f"{len(roles)} heads look mostly at: " + "; ".join(f"{r} {n}" for r, n in counts.items()) + "."
    )
    rows = [
        {
            "layer": s.layer + 1, "head": s.head + 1, "looks mostly at": r,
            f"previous {unit}": round(s.previous, 3), "itself": round(s.self_weight, 3), f"last {RECENT}": round(s.recent, 3),
            f"first {unit}": "–" if np.isnan(s.first) else round(s.first, 3), "spaces & punctuation": round(s.separators, 3),
            "(if spread evenly)": round(s.separators_baseline, 3), "spread (0–1)": round(s.spread, 3),
            f"look-back ({unit}s)": round(s.distance, 2),
        }
        for s, r in zip(view.heads, roles)
    ] if len(view.token_ids) >= 2 else []
    charts.chart(grid_figure(view, layer, head, titles), key="attention_grid", caption=caption, table=rows,
                 table_label="Every head's measurements", aspect=grid_aspect(view), box_css=lambda box: grid_css(box, view.attention.shape[1]))


def residual_charts(view: Inspection, token: int, unit: str) -> None:
    L = view.n_layer
    stages = ["embeddings"] + [f"block {i}" for i in range(1, L + 1)]
    left, right = st.columns(2)
    grow = view.residual_norms.mean(1)
    charts.chart(
        residual_figure(view, token, unit), key="attention_residual", where=left,
        caption=(f"On average the vectors grow from {grow[0]:.1f} after the embeddings to {grow[-1]:.1f} after the last block; "
                 f"{unit} {token} {quoted(view.pieces[token])} ends at {view.residual_norms[-1, token]:.1f}."),
        table=[{"after": st_, "average length": round(float(a), 2), f"{unit} {token}": round(float(t), 2)}
               for st_, a, t in zip(stages, grow, view.residual_norms[:, token])],
    )
    parts = [(float(view.attn_out_norms[i].mean()), f"block {i + 1}'s attention") for i in range(L)]
    parts += [(float(view.mlp_out_norms[i].mean()), f"block {i + 1}'s MLP") for i in range(L)]
    size, name = max(parts)
    charts.chart(
        contributions_figure(view, token, unit), key="attention_contributions", where=right,
        caption=f"The largest single addition, on average, is {name} ({size:.1f}); bars are averages, markers {unit} {token}.",
        table=[{"block": i + 1, "attention added (average)": round(float(view.attn_out_norms[i].mean()), 2),
                "MLP added (average)": round(float(view.mlp_out_norms[i].mean()), 2),
                f"attention, {unit} {token}": round(float(view.attn_out_norms[i, token]), 2),
                f"MLP, {unit} {token}": round(float(view.mlp_out_norms[i, token]), 2)} for i in range(L)],
    )


def stage_names(L: int) -> list[str]:
    """Where the logit lens reads: the embeddings alone, then after each block (the last is the output).

    >>> stage_names(2)
    ['the embeddings alone', 'block 1', 'block 2 (the output)']
    """
    return ["the embeddings alone"] + [f"block {i}" for i in range(1, L)] + [f"block {L} (the output)"]


def lens_chart(view: Inspection, tokenizer, first: int, last: int, unit: str) -> None:
    top_pieces = np.array([[visible_whitespace(tokenizer.token_text(int(i))) for i in row] for row in view.lens_top_ids], dtype=object)
    L = view.n_layer
    T = len(view.token_ids)
    stages = stage_names(L)
    if T >= 2:
        lens = lens_summary(view)
        caption = (
            f"Averaged over the {T - 1} positions whose next {unit} is in the prompt, the real next {unit} gets "
            + ", ".join(f"{p:.0%} after {s}" for p, s in zip(lens.next_prob, stages))
            + f"; the top guess is right {lens.top1_correct[0]:.0%} of the time from the embeddings alone and "
            f"{lens.top1_correct[-1]:.0%} at the output. Brighter = a surer top guess."
        )
    else:
        caption = f"One {unit}: each row is what the model would guess next if it stopped after that block."
    rows = []
    for i in range(first, last + 1):
        row = {"position": i, f"{unit} read": view.pieces[i], "really next": view.pieces[i + 1] if i + 1 < T else "(beyond the prompt)"}
        for stage, guess, prob in zip(stages, top_pieces[:, i], view.lens_top_probs[:, i]):
            row[f"guess after {stage}"] = f"{guess} ({prob:.2f})"
        rows.append(row)
    charts.chart(lens_figure(view, first, last, top_pieces, unit), key="attention_lens", caption=caption, table=rows,
                 table_label="Each block's top guess, position by position")


# ---- "Predict, then see": where "it" looks -----------------------------------------------------

def it_section(entry, unit: str) -> None:
    """The example sentence measured on the current model, behind a prediction."""
    units = f"{unit}s"
    tokenizer, model = entry.tokenizer, entry.model
    try:
        ids = tokenizer.encode(EXAMPLE)
    except TokenizerError:
        st.info("This model's tokenizer cannot write the example sentence, so this section has nothing to measure.")
        return
    example = cached_inspection(entry, ids, None)
    looks = it_looks(example, tokenizer)
    if looks is None:
        st.info(f"The model reads only the last {model.config.block_size} {units} of the example, and they do not hold “animal”, “road” and “it”.")
        return
    L, H = example.n_layer, example.n_head
    places = {"animal": "“animal”", "road": "“road”", "nearby": f"neither: mostly “it” itself and the {RECENT} {units} just before it"}

    def reveal(guess: str) -> predict.Reveal:
        avg = looks.averages()
        most = looks.most()
        a_l, a_h, a_w = looks.strongest("animal")
        r_l, r_h, r_w = looks.strongest("road")
        answer = (
            f"Averaged over all {L * H} heads, the {units} of “it” put **{avg['nearby']:.0%}** of their weight on themselves "
            f"and the {RECENT} {units} before, **{avg['animal']:.1%}** on “animal” and **{avg['road']:.1%}** on “road”."
        )
        if most == "nearby":
            why = (
                f"This model looks mostly close by: to guess the next {unit}, the last few {units} say the most. Single heads "
                f"do reach further: layer {a_l + 1}, head {a_h + 1} puts {a_w:.0%} on “animal”, layer {r_l + 1}, head {r_h + 1} "
                f"{r_w:.0%} on “road”."
            )
        else:
            other = "road" if most == "animal" else "animal"
            why = (
                f"More weight lands on “{most}” than on “{other}” ({avg[most]:.1%} against {avg[other]:.1%}), mostly from layer "
                f"{(a_l if most == 'animal' else r_l) + 1}, head {(a_h if most == 'animal' else r_h) + 1}. A weight on a word shows "
                "where information can flow, not that the model understood the sentence."
            )
        return predict.Reveal(answer, guess == most, why)

    predict.checkpoint(
        "attention_it",
        f"In the example, “it” means the road (roads are wide). From the {units} of “it”, averaged over all {L * H} heads of "
        "this model, where does the most attention weight land?",
        predict.choice(list(places), format_func=places.get, horizontal=False),
        reveal,
    )
    if not predict.made("attention_it"):
        return
    fig = go.Figure()
    labels = [f"L{li + 1} H{h + 1}" for li in range(L) for h in range(H)]
    for i, (name, grid) in enumerate((("on “animal”", looks.on_animal), ("on “road”", looks.on_road),
                                      (f"on “it” and the {RECENT} before", looks.nearby))):
        fig.add_trace(go.Bar(x=labels, y=grid.ravel(), name=name, marker=dict(color=palette.category(i), pattern_shape=["", "/", "."][i])))
    fig.update_layout(title="Where “it” looks, head by head", barmode="group", yaxis=dict(title="attention weight (0 to 1)", range=[0, 1]),
                      xaxis_title="layer and head", height=360, margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.25))
    r_l, r_h, r_w = looks.strongest("road")
    a_l, a_h, a_w = looks.strongest("animal")
    charts.chart(
        fig, key="attention_it_heads",
        caption=(f"Head by head on the example: the most weight on “road” is layer {r_l + 1}, head {r_h + 1} ({r_w:.0%}); on “animal”, "
                 f"layer {a_l + 1}, head {a_h + 1} ({a_w:.0%})."),
        table=[{"layer": li + 1, "head": h + 1, "on “animal”": round(float(looks.on_animal[li, h]), 4),
                "on “road”": round(float(looks.on_road[li, h]), 4), "on “it” and just before": round(float(looks.nearby[li, h]), 4)}
               for li in range(L) for h in range(H)],
    )
    st.caption(
        f"This model is small: {L} layers, {model.num_params():,} parameters, trained on {training_text(entry.record)}. "
        "Nothing in that teaches it that roads are wide. A head with weight on a noun does not show the model links “it” to it: "
        "only the rest of the model decides whether that information is used. Press *Try the example sentence* above and pick a "
        "head to see its whole pattern."
    )


# ---- "Predict, then see": the logit lens ----------------------------------------------------------

def lens_prediction(view: Inspection, tokenizer, unit: str) -> None:
    forming = lens_forming(view)
    stages = stage_names(view.n_layer)
    guess_text = f"**{quoted(visible_whitespace(tokenizer.token_text(forming.final_id)))}**"

    def reveal(guess: int) -> predict.Reveal:
        f = lens_forming(view)
        probs = ", ".join(f"{p:.0%}" for p in f.final_probs)
        answer = f"{guess_text} is first the top guess after **{stages[f.first_on_top]}**. Its probability after each stage: {probs}."
        earlier = [quoted(visible_whitespace(tokenizer.token_text(int(i)))) for i in f.top_ids[: f.first_on_top]]
        if f.first_on_top == view.n_layer:
            why = (f"Until the last block the read-out favours other {unit}s ({', '.join(earlier)}): the guess is only formed at the end, "
                   "by what the last block adds to the residual stream.")
        elif f.first_on_top == 0:
            why = (f"The {unit} read alone already points to it (the embedding and the output layer agree); the blocks then change its "
                   f"probability from {f.final_probs[0]:.0%} to {f.final_probs[-1]:.0%}.")
        else:
            why = (f"Before that the read-out favours {', '.join(earlier)}; from {stages[f.first_on_top]} on, what the blocks added "
                   f"points to {guess_text}, and by the output it gets {f.final_probs[-1]:.0%}.")
        return predict.Reveal(answer, int(guess) == f.first_on_top, why)

    predict.checkpoint(
        "attention_lens",
        f"After the last {unit} of your prompt, the model's top guess for the next {unit} is {guess_text}. Reading the residual "
        f"stream after each block: after which block is {guess_text} first the top guess?",
        predict.choice(list(range(len(stages))), format_func=lambda i: stages[i], horizontal=False),
        reveal,
    )


def sources_line(cfg) -> str:
    """The sources of the methods this chapter shows, through the register."""
    keys = ["vaswani2017", "nostalgebraist2020", "elhage2021"] + (["su2021"] if cfg.position == "rope" else [])
    return "Sources: " + literature.references(keys) + "."
