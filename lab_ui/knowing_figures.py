"""Figures and escaped HTML for the "Knowing and not knowing" chapter (plotly; no Streamlit calls).

Colours come from lab_ui.palette only, and no two series differ by colour alone (bar patterns,
dashes, markers). Captions and tables are in lab_ui.knowing_view.

Every label that comes from a user (a document, a question) is escaped with `html.escape`.

    >>> highlight("Bo <b>Ray</b> was born", ("ray", "born"))
    'Bo &lt;b&gt;<mark>Ray</mark>&lt;/b&gt; was <mark>born</mark>'
"""

from __future__ import annotations

import html
import re

import plotly.graph_objects as go

from lab_ui import palette

KNOWN, UNKNOWN, CONFIDENCE = palette.BLUE, palette.VERMILLION, palette.ORANGE


def _layout(fig, title: str, height: int = 300, **kw):
    fig.update_layout(title=title, height=height, margin=dict(t=40, b=40, l=50, r=10), legend=dict(orientation="h", y=-0.25), **kw)
    return fig


def seen_bars(by_seen: dict) -> go.Figure:
    """Exact match and mean confidence by how many times a fact was seen in training (0 = never)."""
    labels = ["never" if n == 0 else f"{n}×" for n in by_seen]
    em = [v[0] * 100 for v in by_seen.values()]
    conf = [(v[1] or 0) * 100 for v in by_seen.values()]
    fig = go.Figure([go.Bar(x=labels, y=em, name="right (exact match %)", marker_color=KNOWN),
                     go.Bar(x=labels, y=conf, name="mean confidence %", marker=dict(color=CONFIDENCE, pattern=dict(shape="/")))])
    return _layout(fig, "Closed book: right answers and confidence by times seen", xaxis_title="times the fact was in training", yaxis=dict(range=[0, 100]))


def confidence_hist(rows) -> go.Figure:
    fig = go.Figure()
    for name, color, shape, pick in (("known people", KNOWN, "", lambda r: r.seen > 0), ("unknown people (hatched)", UNKNOWN, "x", lambda r: r.seen == 0)):
        fig.add_trace(go.Histogram(x=[r.answer.confidence for r in rows if pick(r)], name=name, marker=dict(color=color, pattern=dict(shape=shape)), opacity=0.65,
                                   xbins=dict(start=0, end=1.0001, size=0.05)))
    return _layout(fig, "Confidence of closed-book answers", barmode="overlay", xaxis_title="probability of the whole answer", yaxis_title="answers")


def reliability(bins: list[dict], ece: float) -> go.Figure:
    mids = [(b["low"] + b["high"]) / 2 for b in bins]
    fig = go.Figure([
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color=palette.GREY), name="perfect calibration"),
        go.Bar(x=mids, y=[b["accuracy"] for b in bins], width=0.09, name="accuracy in bin", marker_color=KNOWN,
               customdata=[[b["count"], b["confidence"]] for b in bins], hovertemplate="%{customdata[0]} answers<br>mean confidence %{customdata[1]:.2f}<br>accuracy %{y:.2f}"),
        go.Scatter(x=[b["confidence"] for b in bins], y=[b["accuracy"] for b in bins], mode="markers", name="(mean confidence, accuracy)", marker=dict(color=CONFIDENCE, size=9, symbol="diamond")),
    ])
    return _layout(fig, f"Reliability diagram · ECE {ece:.3f}", xaxis=dict(range=[0, 1], title="confidence"), yaxis=dict(range=[0, 1.05], title="accuracy"))


def abstention(curve, threshold: float) -> go.Figure:
    ts = [t for t, _, _ in curve]
    fig = go.Figure([
        go.Scatter(x=ts, y=[c for _, c, _ in curve], name="coverage (share answered)", line=dict(color=KNOWN)),
        go.Scatter(x=ts, y=[a for _, _, a in curve], name="accuracy of the answered", line=dict(color=palette.GREEN, dash="dash")),
    ])
    fig.add_vline(x=threshold, line=dict(color=palette.MUTED, dash="dot"))
    return _layout(fig, "Say \"I don't know\" below a confidence threshold", xaxis_title="threshold", yaxis=dict(range=[0, 1.05]))


def highlight(text: str, terms) -> str:
    """The text escaped, with every whole-word match of the query terms in <mark>."""
    if not terms:
        return html.escape(text)
    pattern = re.compile(r"\b(" + "|".join(re.escape(t) for t in terms) + r")\b", re.IGNORECASE)
    out, last = [], 0
    for m in pattern.finditer(text):
        out += [html.escape(text[last : m.start()]), f"<mark>{html.escape(m.group(0))}</mark>"]
        last = m.end()
    return "".join(out + [html.escape(text[last:])])


def hits_html(hits, min_score: float | None = None) -> str:
    """The retrieved chunks with their scores; with `min_score`, those below it are greyed and marked as not read."""
    def row(h):
        unread = min_score is not None and h.score < min_score
        style = f' style="color:{palette.MUTED}"' if unread else ""
        note = f' <span style="font-size:0.8rem">(below {min_score:g}: not read)</span>' if unread else ""
        return (f'<tr{style}><td style="padding:4px 8px">{h.rank}</td><td style="padding:4px 8px;font-family:monospace">{h.score:.2f}</td>'
                f'<td style="padding:4px 8px;color:{palette.MUTED}">{html.escape(h.chunk.source)}</td><td style="padding:4px 8px">{highlight(h.chunk.text, h.matched)}{note}</td></tr>')

    head = "<tr>" + "".join(f'<th style="text-align:left;padding:4px 8px">{t}</th>' for t in ("rank", "BM25 score", "document", "chunk (matched query words marked)")) + "</tr>"
    return f'<table class="kn-hits" style="border-collapse:collapse;width:100%;font-size:0.9rem">{head}{"".join(row(h) for h in hits)}</table>'


def open_book_card(title: str, ob, good: str, bad: str) -> str:
    """The open book's answer and where it came from, or "I don't know" and why (`chapter.OpenBook`)."""
    if ob.answer is None:
        return answer_card(title, "I don't know", 0.0, f"withheld: {ob.abstained}", palette.MUTED).replace("confidence 0% · ", "")
    if ob.abstained:
        return answer_card(title, "I don't know", ob.answer.confidence, f"withheld: {ob.abstained} (it would have said {ob.answer.text.strip() or 'nothing'})", palette.MUTED)
    verdict = f"found in chunk [{ob.read.index(ob.source) + 1}] of {ob.source.chunk.source}" if ob.source else "not found in any chunk it read"
    return answer_card(title, ob.answer.text, ob.answer.confidence, verdict, good if ob.source else bad)


def answer_card(title: str, answer: str, confidence: float, verdict: str, color: str) -> str:
    return (
        f'<div class="kn-answer" style="border:1px solid {palette.LIGHT_GREY};border-left:6px solid {color};border-radius:6px;padding:8px 12px;margin:4px 0">'
        f'<div style="color:{palette.MUTED};font-size:0.85rem">{html.escape(title)}</div>'
        f'<div style="font-size:1.3rem;font-family:monospace">{html.escape(answer) or "∅ (empty)"}</div>'
        f'<div style="font-size:0.85rem">confidence {confidence:.0%} · {html.escape(verdict)}</div></div>'
    )
