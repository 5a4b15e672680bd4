"""Margins wide enough for each chart's labels, legend and colour bar, so that plotly draws it once.

What it is: `MARGINS`, chart key -> (left, right, top, bottom) in pixels, measured in headless
Chromium at the window the load test uses (1300 px wide) on each chapter's first view, and `fit`,
which `lab_ui.charts.chart` calls on every figure. What it is not: a layout choice; it only moves
work out of the browser, and a chart it does not name is drawn as before.

Why: the charts' axes have `automargin` (lab_ui.palette), so that no label is ever cut off. Plotly
draws a figure, measures its labels and, when they need more room than the figure's margins give,
draws the whole figure again with wider ones (its margins only ever grow). With the palette's
margins of 0 at the sides, every chart was drawn twice on its first view and on every redraw: a
sixth to a quarter of a first visit's browser CPU on Attention and Generate (README: Benchmarks),
which a class of eight browsers on the server's two cores waits for. With margins that already fit,
plotly draws once; a chart whose labels need more (another model's numbers, a narrower window)
is drawn twice as before, never cut off.

Plotly adds 12 px to each side its labels push once every margin asked is at least 12 px (its
`autoMargin` pad), so a chart with all four sides named here has 12 px more room on the pushed
sides than plotly's own second draw gave it.

Remade by `PYTHONPATH=.:tests python benchmarks/chart_margins.py --write`, after a change to a
chart; tests/test_browser_startup.py fails on a chapter whose chart is still drawn twice.
"""

from __future__ import annotations

# Made by: PYTHONPATH=.:tests python benchmarks/chart_margins.py --write
MARGINS: dict[str, tuple[int, int, int, int]] = {
    "attention_contributions": (73, 10, 50, 121),
    "attention_head_map": (61, 86, 90, 10),
    "attention_residual": (73, 10, 50, 70),
    "bpe_curve": (80, 36, 41, 69),
    "cost_chart": (110, 50, 60, 73),
    "emb_pos_sim_trained": (75, 91, 40, 69),
    "emb_pos_sim_untrained": (75, 91, 40, 69),
    "emb_pos_table_trained": (75, 83, 40, 69),
    "emb_pos_table_untrained": (75, 83, 40, 69),
    "emb_scatter_trained": (57, 0, 70, 136),
    "emb_scatter_untrained": (57, 0, 70, 136),
    "gen_chart": (79, 85, 50, 95),
    "sc_counts": (66, 0, 40, 134),
    "sc_em_acc": (73, 0, 40, 134),
    "sc_em_logp": (85, 90, 40, 162),
    "sc_em_size_acc": (73, 0, 40, 134),
    "sc_em_size_logp": (85, 84, 40, 162),
    "sc_frontier": (69, 0, 40, 86),
    "sc_params": (60, 0, 40, 110),
    "tr_loss_chart": (60, 0, 35, 57),
    "tr_lr_chart": (72, 0, 30, 57),
}


def fit(fig, key: str) -> None:
    """Give `fig` the measured margins of the chart `key`, where there are some (in place)."""
    margins = MARGINS.get(key)
    if margins is not None:
        left, right, top, bottom = margins
        fig.update_layout(margin=dict(l=left, r=right, t=top, b=bottom))
