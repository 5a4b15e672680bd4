"""Figures and measured sentences of the Embeddings chapter: a PCA scatter of a table, and what
the measured change of a table says (no sentence describes a chart the page did not measure).
"""

from __future__ import annotations

import html

import plotly.express as px
import plotly.graph_objects as go

from llm_core.interpret import embeddings as emb

LABEL_LIMIT = 120  # write each token on its marker when the vocabulary is this small
MAX_POINTS = 4_000  # tokens drawn per scatter (big vocabularies: the first ids, i.e. bytes and the earliest merges)


def scatter_figure(table, title: str, three_d: bool, labels: list[str], kinds: list[str], selected: list[int]) -> go.Figure:
    """The rows of a table projected by PCA, coloured by kind of token, the looked-up tokens circled."""
    dims = "3-D" if three_d else "2-D"
    labels = [html.escape(text, quote=False) for text in labels]  # plotly reads <b>, <br>, <a> in text: token text is escaped
    projection = emb.pca(table, k=3 if dims == "3-D" else 2)
    coords = projection.coords
    share = ", ".join(f"{v:.0%}" for v in projection.explained.tolist())
    shown = list(range(len(labels))) if len(labels) <= MAX_POINTS else sorted(set(range(MAX_POINTS)) | set(selected))
    data = dict(x=coords[shown, 0].tolist(), y=coords[shown, 1].tolist(), kind=[kinds[i] for i in shown],
                token=[labels[i] for i in shown], id=shown)
    small = len(shown) <= LABEL_LIMIT
    common = dict(color="kind", color_discrete_map=emb.KIND_COLOURS, hover_name="token", hover_data={"id": True, "kind": True},
                  category_orders={"kind": [k for k in emb.KIND_COLOURS if k in set(kinds)]})
    if dims == "3-D":
        data["z"] = coords[shown, 2].tolist()
        fig = px.scatter_3d(data, x="x", y="y", z="z", text="token" if small else None, **common)
        fig.update_traces(marker=dict(size=4))
    else:
        fig = px.scatter(data, x="x", y="y", text="token" if small else None, render_mode="auto" if small else "webgl", **common)
        fig.update_traces(marker=dict(size=9, opacity=0.8), textposition="top center", textfont=dict(size=10))
    if selected:
        pick = dict(x=[coords[i, 0].item() for i in selected], y=[coords[i, 1].item() for i in selected],
                    text=[labels[i] for i in selected], mode="markers+text", name="looked up",
                    hovertemplate="%{text}<extra>looked up</extra>", textposition="bottom center")
        if dims == "3-D":
            fig.add_trace(go.Scatter3d(z=[coords[i, 2].item() for i in selected], marker=dict(size=9, color="rgba(0,0,0,0)", line=dict(color="black", width=3)), **pick))
        else:
            fig.add_trace(go.Scatter(marker=dict(size=20, color="rgba(0,0,0,0)", line=dict(color="black", width=2.5)), textfont=dict(size=14, color="black"), **pick))
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
