"""Figures, measured sentences and "Predict, then see" checkpoints of the Embeddings chapter: a PCA
scatter of a table and a heatmap of the position table, each with a caption computed from its data
and the data as a table (lab_ui.charts); what the measured change of a table says; and the
chapter's two predictions (how far training moved the vectors; which kind of token is nearest to a
vowel in what training changed), computed from the current model when they are revealed.
No sentence describes a chart the page did not measure, and none answers a question before its guess
is locked: the *what training changed* view waits for both (`waiting_for`, `changed_view_waits`), and
the first reveal says whether the change groups tokens only once the vowel question is locked too.
"""

from __future__ import annotations

import html

import plotly.graph_objects as go
import streamlit as st
import torch

from lab_ui import charts, palette, predict
from lab_ui.chips import literal
from llm_core.interpret import embeddings as emb

LABEL_LIMIT = 120  # write each token on its marker when the vocabulary is this small
MAX_POINTS = 4_000  # tokens drawn per scatter (big vocabularies: the first ids, i.e. bytes and the earliest merges)
# Each kind of token: a palette colour and a marker, so kinds differ by shape too (vowels vermillion,
# consonants blue; lower case round, upper case diamonds). Markers every 2-D and 3-D scatter can draw.
KIND_STYLE = {
    "lower-case vowel": (palette.VERMILLION, "circle"),
    "lower-case consonant": (palette.BLUE, "circle"),
    "upper-case vowel": (palette.VERMILLION, "diamond"),
    "upper-case consonant": (palette.BLUE, "diamond"),
    "digit": (palette.GREEN, "square"),
    "punctuation": (palette.PURPLE, "cross"),
    "whitespace": (palette.BLACK, "x"),
    "other letter": (palette.SKY, "circle"),
    "word": (palette.ORANGE, "circle"),
    "number": (palette.GREEN, "square"),
    "symbols": (palette.PURPLE, "cross"),
    "mixed": (palette.SKY, "diamond"),
    "byte fragment": (palette.GREY, "x"),
    "special": (palette.BLACK, "square"),
    "other": (palette.GREY, "circle"),
}
MOVED_BANDS = {"less than a quarter of its length": (0.0, 0.25), "a quarter to a half": (0.25, 0.5),
               "half to the whole length": (0.5, 1.0), "more than its whole length": (1.0, float("inf"))}
GROUPS = {"vowel": "another vowel", "consonant": "a consonant", "other": "something else (a digit, a punctuation mark, a space)"}


def scatter_figure(table, title: str, three_d: bool, labels: list[str], kinds: list[str], selected: list[int], projection=None) -> go.Figure:
    """The rows of a table projected by PCA, one trace per kind of token (colour and marker), the
    looked-up tokens circled. Built from graph objects, not plotly.express: express builds a pandas
    table per call and took most of a second for 65 points on the loaded 2-core machine."""
    dims = "3-D" if three_d else "2-D"
    labels = [html.escape(text, quote=False) for text in labels]  # plotly reads <b>, <br>, <a> in text: token text is escaped
    projection = projection or emb.pca(table, k=3 if dims == "3-D" else 2)
    coords = projection.coords
    share = ", ".join(f"{v:.0%}" for v in projection.explained.tolist())
    shown = list(range(len(labels))) if len(labels) <= MAX_POINTS else sorted(set(range(MAX_POINTS)) | set(selected))
    small = len(shown) <= LABEL_LIMIT
    fig = go.Figure()
    present = set(kinds[i] for i in shown)
    for kind in [k for k in emb.KINDS if k in present]:
        ids = [i for i in shown if kinds[i] == kind]
        colour, symbol = KIND_STYLE[kind]
        common = dict(x=coords[ids, 0].tolist(), y=coords[ids, 1].tolist(), name=kind, hovertext=[labels[i] for i in ids],
                      customdata=[[i, kind] for i in ids], mode="markers+text" if small else "markers",
                      text=[labels[i] for i in ids] if small else None,
                      hovertemplate="<b>%{hovertext}</b><br>id %{customdata[0]}<br>%{customdata[1]}<extra></extra>")
        if dims == "3-D":
            fig.add_trace(go.Scatter3d(z=coords[ids, 2].tolist(), marker=dict(size=4, color=colour, symbol=symbol), **common))
        else:
            kind_trace = go.Scatter if small else go.Scattergl
            fig.add_trace(kind_trace(marker=dict(size=9, opacity=0.85, color=colour, symbol=symbol), textposition="top center",
                                     textfont=dict(size=10), **common))
    if selected:
        pick = dict(x=[coords[i, 0].item() for i in selected], y=[coords[i, 1].item() for i in selected],
                    text=[labels[i] for i in selected], mode="markers+text", name="looked up",
                    hovertemplate="%{text}<extra>looked up</extra>", textposition="bottom center")
        if dims == "3-D":
            fig.add_trace(go.Scatter3d(z=[coords[i, 2].item() for i in selected], marker=dict(size=9, color="rgba(0,0,0,0)", line=dict(color=palette.BLACK, width=3)), **pick))
        else:
            fig.add_trace(go.Scatter(marker=dict(size=20, color="rgba(0,0,0,0)", line=dict(color=palette.BLACK, width=2.5)), textfont=dict(size=14, color=palette.BLACK), **pick))
    if len(shown) < len(labels):
        title += f" (first {MAX_POINTS:,} of {len(labels):,} tokens drawn)"
    fig.update_layout(title=dict(text=f"{title}<br><sup>PCA: the axes explain {share} of the variance</sup>"), height=600,
                      margin=dict(t=70, l=0, r=0, b=0), legend=dict(title="", orientation="h", yanchor="top", y=-0.12, x=0))
    if dims == "3-D":
        fig.update_layout(scene=dict(xaxis_title="PC 1", yaxis_title="PC 2", zaxis_title="PC 3"))
    else:
        fig.update_layout(xaxis_title="PC 1", yaxis_title="PC 2")
    return fig


def moved_sentence(relative: float, row: str) -> str:
    """What the measured change says about the table (the chart is not described in advance)."""
    moved = f"In this model training moved each {row} by {relative:.0%} of its starting length on average"
    if relative < 0.5:
        return moved + ", so the table is still mostly its random start: what training *added* shows in *What training changed*."
    return moved + ": the table is now more what training made than its random start."


def signed(x: float) -> str:
    """+0.18, -0.19, and +0.00 for anything that rounds to zero (never -0.00)."""
    return f"{0.0 if round(x, 2) == 0 else x:+.2f}"


def distance_sentence(change, start, near: int = 4) -> str:
    """What the two similarity heatmaps show, measured: nearby against far-apart positions."""
    near_c, far_c = emb.similarity_by_distance(emb.cosine_similarity_matrix(change), near)
    near_s, far_s = emb.similarity_by_distance(emb.cosine_similarity_matrix(start), near)
    measured = (f"(average cosine {signed(near_c)} for positions 1 to {near} apart, {signed(far_c)} for positions at least "
                "half the context apart)")
    if near_c - far_c >= 0.1:
        learned = f"In the change, nearby positions point alike and far-apart ones less so {measured}: the model learned where in the context a token is. "
    else:
        learned = f"In the change, nearby positions are hardly more alike than far-apart ones {measured}: this run taught the table little about distance. "
    return learned + f"In the starting values the same two averages are {signed(near_s)} and {signed(far_s)}."


def moved_band(relative: float) -> str:
    """The band of MOVED_BANDS a relative change falls in.

    >>> moved_band(0.13), moved_band(0.5), moved_band(1.7)
    ('less than a quarter of its length', 'half to the whole length', 'more than its whole length')
    """
    return next(name for name, (lo, hi) in MOVED_BANDS.items() if lo <= relative < hi)


def grouping_sentence(table, kinds: list[str]) -> str:
    """How alike same-kind tokens are in `table` against tokens of other kinds, measured."""
    pair = emb.kind_similarity(table, kinds)
    if pair is None:
        return ""
    within, between = pair
    found = ("they form groups, found by the model on its own" if within - between >= 0.1
             else "hardly more alike than other tokens: no grouping to speak of, as in random rows")
    return (f"Tokens of the same kind have an average cosine of {signed(within)} with each other and {signed(between)} "
            f"with tokens of other kinds: {found}.")


def scatter_chart(table, title: str, three_d: bool, labels: list[str], kinds: list[str], selected: list[int], key: str, where=None) -> None:
    """The PCA scatter of a table through lab_ui.charts: its caption says what the map shows, measured."""
    projection = emb.pca(table, k=3 if three_d else 2)
    fig = scatter_figure(table, title, three_d, labels, kinds, selected, projection)
    share = float(projection.explained.sum())
    caption = (f"The {'three' if three_d else 'two'} directions drawn hold {share:.0%} of how the rows differ. "
               + grouping_sentence(table, kinds))
    shown = list(range(len(labels))) if len(labels) <= MAX_POINTS else sorted(set(range(MAX_POINTS)) | set(selected))
    coords = projection.coords
    rows = [{"token": labels[i], "id": i, "kind": kinds[i], **{f"PC {d + 1}": round(float(coords[i, d]), 4) for d in range(coords.shape[1])}}
            for i in shown]
    charts.chart(fig, key=key, caption=caption, table=rows, where=where)


def heatmap_charts(table, positions: list[int], title: str, which: str, full_shape: tuple) -> None:
    """A position table as a heatmap and its positions' cosine similarity, each with a measured caption and its data."""
    limit = float(table.abs().max()) or 1.0
    heat = go.Figure(go.Heatmap(z=table.numpy(), y=positions, colorscale=palette.DIVERGING, zmin=-limit, zmax=limit, colorbar=dict(title="value"),
                                hovertemplate="position %{y}, channel %{x}: %{z:.3f}<extra></extra>"))
    heat.update_layout(title=f"{title}: table ({full_shape[0]} × {full_shape[1]})", height=360, margin=dict(t=40, l=0, r=0, b=0),
                       xaxis_title="channel (one of the vector's numbers)", yaxis=dict(title="position in the context", autorange="reversed"))
    sims = emb.cosine_similarity_matrix(table)
    next_door, far = emb.similarity_by_distance(sims, near=1)
    near, _ = emb.similarity_by_distance(sims, near=4)
    smooth = next_door - far >= 0.1
    charts.chart(heat, key=f"emb_pos_table_{which}", table_label="The table, position by position",
                 caption=(f"Neighbouring positions' rows have an average cosine of {signed(next_door)}, positions at least half the "
                          f"context apart {signed(far)}: " + ("the table changes smoothly from one position to the next." if smooth
                                                              else "no smooth pattern along the positions, as in random rows.")),
                 table=position_rows(table, positions))
    # Every number of the table (a 128 x 128 table is 16,384): built only when asked for, not on every run.
    st.download_button("Download every number of this table (CSV)", key=f"emb_pos_full_{which}", on_click="ignore",
                       data=lambda: charts.csv_text([{"position": p, **{f"channel {c}": float(v) for c, v in enumerate(row)}}
                                                     for p, row in zip(positions, table.tolist())]),
                       file_name=f"position-table-{which}.csv", mime="text/csv", icon=":material/download:")
    sim = go.Figure(go.Heatmap(z=sims.numpy(), x=positions, y=positions, colorscale=palette.DIVERGING, zmin=-1, zmax=1, colorbar=dict(title="cosine"),
                               hovertemplate="positions %{y} and %{x}: cosine %{z:.2f}<extra></extra>"))
    sim.update_layout(title=f"{title}: similarity of positions", height=400, margin=dict(t=40, l=0, r=0, b=0),
                      xaxis_title="position in the context", yaxis=dict(title="position in the context", autorange="reversed"))
    charts.chart(sim, key=f"emb_pos_sim_{which}", table_label="The similarities, position by position",
                 caption=(f"Positions 1 to 4 apart have an average cosine of {signed(near)}, positions at least half the context apart "
                          f"{signed(far)}: " + ("the band along the diagonal is nearby positions looking alike." if near - far >= 0.1
                                                else "no band along the diagonal: nearby positions are no more alike than far ones.")),
                 table=similarity_rows(sims, positions))


def position_rows(table, positions: list[int]) -> list[dict]:
    """Each row of a position table read as the heatmap shows it: its length, its largest and smallest
    numbers (and their channels), and how alike it is to the next position's row.

        >>> import torch
        >>> position_rows(torch.tensor([[3.0, -4.0], [3.0, 4.0]]), [0, 1])[0]
        {'position': 0, 'vector length': 5.0, 'largest number (channel)': '+3.000 (0)', 'smallest number (channel)': '-4.000 (1)', 'cosine with the next position': -0.28}
    """
    unit = table / table.norm(dim=1, keepdim=True).clamp_min(1e-12)
    out = []
    for i, (p, row) in enumerate(zip(positions, table)):
        hi, lo = int(row.argmax()), int(row.argmin())
        out.append({"position": p, "vector length": round(float(row.norm()), 3),
                    "largest number (channel)": f"{float(row[hi]):+.3f} ({hi})", "smallest number (channel)": f"{float(row[lo]):+.3f} ({lo})",
                    "cosine with the next position": round(float(unit[i] @ unit[i + 1]), 3) if i + 1 < len(table) else None})
    return out


def similarity_rows(sims, positions: list[int], near: int = 4) -> list[dict]:
    """Each position's similarity to its neighbours and to far-away positions: the heatmap read row by
    row (the whole matrix follows from the table's numbers, which have their own table).

        >>> import torch
        >>> similarity_rows(torch.tensor([[1.0, 0.5, -0.2], [0.5, 1.0, 0.1], [-0.2, 0.1, 1.0]]), [0, 1, 2], near=1)[0]
        {'position': 0, 'cosine with the next position': 0.5, 'mean cosine, 1 to 1 apart': 0.5, 'mean cosine, half the context or more apart': -0.2}
    """
    n = sims.size(0)
    out = []
    for i, p in enumerate(positions):
        distance = (torch.arange(n) - i).abs()
        close, far = (distance >= 1) & (distance <= near), distance >= max(near + 1, n // 2)
        out.append({"position": p, "cosine with the next position": round(float(sims[i, i + 1]), 3) if i + 1 < n else None,
                    f"mean cosine, 1 to {near} apart": round(float(sims[i][close].mean()), 3) if close.any() else None,
                    "mean cosine, half the context or more apart": round(float(sims[i][far].mean()), 3) if far.any() else None})
    return out


def vowel_of(tokenizer) -> tuple[str, int] | None:
    """The first of a, e, i, o, u that is one token of `tokenizer` (its text and id), or None."""
    for v in "aeiou":
        try:
            ids = tokenizer.encode(v)
        except Exception:  # a character tokenizer that never saw it
            continue
        if len(ids) == 1 and tokenizer.token_text(ids[0]) == v:
            return v, ids[0]
    return None


SECTION_1 = ("embeddings_moved", "embeddings_vowel_neighbour")  # the chapter's two checkpoints, in section 1


def waiting_for(tokenizer) -> list[str]:
    """Section 1's questions not yet locked (the vowel question only where this tokenizer lets it be asked):
    what training changed answers them both, so that view waits for every one of them."""
    asked = SECTION_1 if vowel_of(tokenizer) is not None else SECTION_1[:1]
    return [key for key in asked if predict.made(key) is None]


def changed_view_waits(missing: list[str], vowel: str | None) -> str:
    """What the *what training changed* view says while section 1's guesses are still open.

    >>> changed_view_waits(["embeddings_moved", "embeddings_vowel_neighbour"], "a")  # doctest: +ELLIPSIS
    "This view answers both questions of [section 1](#predict-first) (how far training moved each token's vector, and which kind ..."
    """
    questions = {"embeddings_moved": "how far training moved each token's vector",
                 "embeddings_vowel_neighbour": f"which kind of token ends up nearest to '{vowel}'"}
    asked = [questions[key] for key in missing]
    if len(asked) == 1:
        return (f"This view answers a question of [section 1](#predict-first) ({asked[0]}). Lock in your guess there first: "
                "what training changed shows here once it is locked.")
    return (f"This view answers both questions of [section 1](#predict-first) ({asked[0]}, and {asked[1]}). Lock in your "
            "guesses there first: what training changed shows here once both are locked.")


PENDING = ("This model's starting values cannot be rebuilt (its record has no training seed that reproduces them, e.g. it was "
           "uploaded), so what training changed cannot be measured. Choose a model trained in this app in the sidebar to see the answer.")


def predictions(model, record: dict, tokenizer, labels: list[str], kinds: list[str], start, change, twin_table) -> None:
    """The chapter's two checkpoints, side by side on a wide screen. `start`/`change`: the token table's
    random start and what training changed (None when the start cannot be rebuilt)."""
    steps = (record or {}).get("steps")
    left, right = st.columns(2)
    with left:
        def moved(guess):
            if change is None:
                return None
            relative = emb.relative_change(change, start)
            trained, twin = emb.mean_abs_cosine(emb.token_table(model)), emb.mean_abs_cosine(twin_table)
            # whether same-kind tokens group in the change answers the vowel question beside this one: said once that is locked
            vowel_open = vowel_of(tokenizer) is not None and predict.made("embeddings_vowel_neighbour") is None
            grouped = "" if vowel_open else grouping_sentence(change, kinds)
            state_of = ("leaves the table mostly its random start" if relative < 0.5 else "makes the table more what training made than its random start")
            return predict.Reveal(
                f"Training moved each token's vector by **{relative:.0%}** of its starting length on average ({moved_band(relative)}).",
                moved_band(relative) == guess,
                f"A nudge of {relative:.0%} {state_of}: two different tokens have an average |cosine| of {trained:.2f} in the "
                f"trained table and {twin:.2f} in the untrained twin. What training learned is in the change alone"
                + (f": there, {grouped[0].lower()}{grouped[1:]}" if grouped
                   else " (the other question of this section asks what it grouped)." if vowel_open else ".")
                + (" (Lock in the other question too, then pick *what training changed* as the table below to see it.)" if vowel_open
                   else " (Pick *what training changed* as the table below to see it.)"),
            )

        predict.checkpoint(
            "embeddings_moved",
            (f"Training ran {steps:,} steps on this model. " if isinstance(steps, int) else "")
            + "How far did it move each token's vector, compared with the vector's length at its random start?",
            predict.choice(list(MOVED_BANDS), horizontal=False), moved, pending=PENDING,
        )
    with right:
        vowel = vowel_of(tokenizer)
        if vowel is None:
            st.info("This model's tokenizer has no single token for a vowel, so this chapter's second question cannot be asked of it.")
            return
        v, vid = vowel

        def nearest(guess):
            if change is None:
                return None
            near = emb.nearest_neighbours(change, vid, 5)
            first, score = near[0]
            group = GROUPS[emb.letter_group(kinds[first])]
            vowels = sum(1 for j, _ in near if emb.letter_group(kinds[j]) == "vowel")
            before = ", ".join(f"'{literal(labels[j])}'" for j, _ in emb.nearest_neighbours(start, vid, 3))
            listed = ", ".join(f"'{literal(labels[j])}' ({signed(s)})" for j, s in near)
            if vowels >= 3:
                why = (f"{vowels} of its 5 nearest are vowels: vowels take the same places in words, between consonants, so "
                       "training pushed their vectors the same way.")
            else:
                why = f"Only {vowels} of its 5 nearest are vowels: this model has not grouped the vowels together."
            return predict.Reveal(
                f"The nearest to '{v}' is **'{literal(labels[first])}'** ({group}), cosine {signed(score)}. Its five nearest: {listed}.",
                group == guess,
                why + f" Before training, at its random start, '{v}''s nearest were {before}: chance.",
            )

        predict.checkpoint(
            "embeddings_vowel_neighbour",
            f"Look only at what training changed in each token's vector. Which kind of token ends up nearest to '{v}'?",
            predict.choice(list(GROUPS.values()), horizontal=False), nearest, pending=PENDING,
        )


def starting_values(which_model, record: dict, table_of, untrained_twin):
    """The table `which_model` started from, rebuilt from its training seed, and the change since; (None, None) if unknown."""
    start_seed = training_seed(record)
    if start_seed is None:
        return None, None
    start = table_of(untrained_twin(which_model.config, start_seed))
    change = emb.change_from_start(table_of(which_model), start)
    return (start, change) if change is not None else (None, None)


def training_seed(record: dict):
    seed_value = (record or {}).get("train_config", {}).get("seed")
    return int(seed_value) if isinstance(seed_value, int) else None
