"""The Compare chapter's views: two model pickers kept in the address by content hash, a lineage
timeline with one-click comparisons, and the figures (next-token bars and their difference,
per-character loss, one head's attention side by side).

What it is: drawing only. The measurements and the sentences that say what differs are
`llm_core.interpret.compare`; every chart goes out through `chart()` with a caption computed from
its data and the data as a table. Colours: Okabe-Ito orange for model A and blue for model B
(lab_ui.palette; never told apart by colour alone: B's bars are also hatched and its line dashed,
gains and losses carry a sign), heatmaps in viridis and cividis.
What it is not: the page (pages/compare.py).
"""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from lab_ui import charts, palette, state
from lab_ui.model_files import plain
from llm_core.model import lineage

COLOR_A, COLOR_B = palette.ORANGE, palette.BLUE
BLUE, VERMILLION = palette.BLUE, palette.VERMILLION
A_KEY, B_KEY = "cmp_a", "cmp_b"  # the address's parameters: each model's content hash
PICK_A, PICK_B = "cmp_pick_a", "cmp_pick_b"  # the pickers (model names, which differ from desk to desk)


def chart(fig, key: str, caption: str, table: list[dict]) -> None:
    """One chart with the sentence that says what to notice and its data as a table (lab_ui.charts)."""
    charts.chart(fig, key=key, caption=caption, table=table)


# ---------------------------------------------------------------- pickers and lineage


def _default_b(a: state.ModelEntry, entries: dict) -> str | None:
    by_hash = {e.hash: n for n, e in entries.items()}
    parent = (a.meta.get("lineage") or {}).get("parent")
    if parent in by_hash and by_hash[parent] != a.name:
        return by_hash[parent]
    return next((n for n in entries if n != a.name), None)


def ask_to_compare(name_a: str, name_b: str) -> None:
    """A one-click comparison (from a lineage timeline): the Compare chapter opens on these two."""
    st.session_state[PICK_A], st.session_state[PICK_B] = name_a, name_b


def pickers() -> tuple[state.ModelEntry, state.ModelEntry] | None:
    """Models A and B: from a click, else the address (hashes, a share link's), else the current model and its parent."""
    for key in (A_KEY, B_KEY):
        wanted = st.query_params.get(key)
        if wanted and st.session_state.get(f"{key}_opened") != wanted:
            st.session_state[f"{key}_opened"] = wanted
            found = state.open_shared(wanted)
            if found is not None:
                st.session_state[PICK_A if key == A_KEY else PICK_B] = found.name
    entries = state.models()
    names = list(entries)
    if len(names) < 2:
        return None
    if st.session_state.get(PICK_A) not in names:
        st.session_state[PICK_A] = state.current().name
    if st.session_state.get(PICK_B) not in names:
        st.session_state[PICK_B] = _default_b(entries[st.session_state[PICK_A]], entries)
    c1, c2 = st.columns(2)
    a = entries[c1.selectbox("Model A", names, key=PICK_A)]
    b = entries[c2.selectbox("Model B", names, key=PICK_B)]
    for key, entry in ((A_KEY, a), (B_KEY, b)):
        if st.query_params.get(key) != entry.hash:
            st.query_params[key] = entry.hash
            st.session_state[f"{key}_opened"] = entry.hash
    state.set_view_models("compare", [a, b])
    return a, b


def timeline_text(entry: state.ModelEntry, names_by_hash: dict[str, str]) -> str:
    """The model's line from its root, as Markdown: each step's name (as on this desk, when it is) and stage."""
    steps = []
    for s in lineage.chain(entry.lineage):
        name = names_by_hash.get(s["hash"]) or s.get("name") or lineage.short(s["hash"])
        steps.append(f"{plain(name)} *({s['stage']}{', ' + format(s['steps'], ',') + ' steps' if s.get('steps') else ''})*")
    if steps:
        steps[-1] = f"**{steps[-1]}**"
    return " → ".join(steps)


def lineage_timeline(entry: state.ModelEntry, key: str, where=st) -> None:
    """The timeline, and a one-click comparison with each ancestor this session has."""
    entries = state.models()
    by_hash = {e.hash: n for n, e in entries.items()}
    where.markdown(timeline_text(entry, by_hash))
    ancestors = [s for s in lineage.chain(entry.lineage)[:-1] if s["hash"] in by_hash]
    for s in reversed(ancestors[-2:]):  # the parent and the grandparent: the comparisons a learner makes
        where.button(f"Compare with {plain(by_hash[s['hash']])}", key=f"{key}_{s['hash'][:12]}", on_click=ask_to_compare,
                     args=(entry.name, by_hash[s["hash"]]), help="Opens this model beside its ancestor, on the same prompt.")


# ---------------------------------------------------------------- figures


def points_label(change: float) -> str:
    """A change in probability as signed percentage points with one decimal, as the table shows it; never "-0" or "-0.0".

    >>> points_label(0.035), points_label(-0.0004), points_label(-0.021), points_label(0.0)
    ('+3.5', '0.0', '-2.1', '0.0')
    """
    points = round(change * 100, 1)
    return "0.0" if points == 0 else f"{points:+.1f}"


def next_token_figures(c, a: str, b: str) -> tuple[go.Figure, go.Figure, list[dict]]:
    labels = [f"'{html.escape(r.shown)}'" for r in c.rows]  # plotly draws some HTML in labels: token texts stay literal
    a, b = html.escape(a), html.escape(b)
    bars = go.Figure([
        go.Bar(name=f"A: {a}", x=labels, y=[r.p_a for r in c.rows], marker_color=COLOR_A),
        go.Bar(name=f"B: {b}", x=labels, y=[r.p_b for r in c.rows], marker_color=COLOR_B, marker_pattern_shape="/"),
    ])
    bars.update_layout(barmode="group", title="Next-token probability, A beside B", yaxis_title="probability", yaxis_tickformat=".0%",
                       xaxis_title="next token", height=320, margin=dict(t=40, b=40, l=50, r=10), legend=dict(orientation="h", y=-0.3))
    order = sorted(c.rows, key=lambda r: r.change)
    change = go.Figure(go.Bar(
        x=[r.change * 100 for r in order], y=[f"'{html.escape(r.shown)}'" for r in order], orientation="h",
        marker_color=[BLUE if r.change >= 0 else VERMILLION for r in order], marker_pattern_shape=["" if r.change >= 0 else "x" for r in order],
        text=[points_label(r.change) for r in order], textposition="outside",
    ))
    change.update_layout(title="Change from A to B (percentage points)", xaxis_title="B minus A, points", height=320, margin=dict(t=40, b=40, l=60, r=30))
    table = [{"token": r.shown, "A": f"{r.p_a:.1%}", "B": f"{r.p_b:.1%}", "B minus A (points)": round(r.change * 100, 1)} for r in c.rows]
    return bars, change, table


def loss_figure(c, a: str, b: str) -> tuple[go.Figure, list[dict]]:
    a, b = html.escape(a), html.escape(b)
    x = list(range(1, len(c.text) + 1))
    chars = [html.escape(ch) if ch.strip() else "·" for ch in c.text]
    fig = go.Figure([
        go.Scatter(x=x, y=c.per_char_a, name=f"A: {a}", mode="lines", line=dict(color=COLOR_A), customdata=chars, hovertemplate="'%{customdata}': %{y:.2f} bits"),
        go.Scatter(x=x, y=c.per_char_b, name=f"B: {b}", mode="lines", line=dict(color=COLOR_B, dash="dash"), customdata=chars, hovertemplate="'%{customdata}': %{y:.2f} bits"),
    ])
    fig.update_layout(title="Surprise per character (each token's bits spread over its characters)", xaxis_title="character of the text",
                      yaxis_title="bits per character", height=320, margin=dict(t=40, b=40, l=50, r=10), legend=dict(orientation="h", y=-0.3))
    if c.same_tokenizer:
        table = [{"token": p.replace("\n", "↵"), "A bits": round(x_, 2), "B bits": round(y_, 2), "B minus A": round(y_ - x_, 2)}
                 for p, x_, y_ in zip(c.a.pieces, c.a.bits, c.b.bits)]
    else:
        table = [{"character": ch, "A bits": None if np.isnan(x_) else round(float(x_), 2), "B bits": None if np.isnan(y_) else round(float(y_), 2)}
                 for ch, x_, y_ in zip(chars, c.per_char_a, c.per_char_b)]
    return fig, table


def attention_figures(att_a: np.ndarray, att_b: np.ndarray, pieces: list[str]) -> tuple[go.Figure, list[dict]]:
    from plotly.subplots import make_subplots

    ticks = [f"{i}:{html.escape(p)}" for i, p in enumerate(pieces)]
    fig = make_subplots(rows=1, cols=3, subplot_titles=("A", "B", "|B − A|"), horizontal_spacing=0.06)
    for col, (z, scale) in enumerate(((att_a, palette.SEQUENTIAL), (att_b, palette.SEQUENTIAL), (np.abs(att_b - att_a), palette.SEQUENTIAL_ALT)), start=1):
        fig.add_trace(go.Heatmap(z=z, x=ticks, y=ticks, colorscale=scale, zmin=0, zmax=1, showscale=col != 1,
                                 colorbar=dict(x=1.0 if col == 3 else 0.64, len=0.9)), row=1, col=col)
        fig.update_yaxes(autorange="reversed", showticklabels=col == 1, row=1, col=col)
        fig.update_xaxes(showticklabels=False, title_text="key (looked at)", row=1, col=col)
    fig.update_yaxes(title_text="query (looking)", row=1, col=1)
    fig.update_layout(title="Attention of the chosen head (rows: each token; columns: the tokens it looks at)", height=360, margin=dict(t=60, b=40, l=80, r=10))
    diff = att_b - att_a
    top = np.dstack(np.unravel_index(np.argsort(-np.abs(diff), axis=None)[:10], diff.shape))[0]
    table = [{"query": f"{q}:{pieces[q]}", "key": f"{k}:{pieces[k]}", "A": round(float(att_a[q, k]), 3), "B": round(float(att_b[q, k]), 3),
              "B minus A": round(float(diff[q, k]), 3)} for q, k in top]
    return fig, table
