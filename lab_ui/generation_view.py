"""The Generation chapter's views of a generation session: the coloured text and the chart of one
step's distribution, the greedy/sampled comparison and the KV-cache timing. Built from
`llm_core.generation` objects; the page keeps the story and the session's state.
"""

from __future__ import annotations

import html
import math

import streamlit as st

from lab_ui import charts, palette
from lab_ui.chips import literal
from lab_ui.prob_text import Piece, prob_text_html
from llm_core.generation.sample import Shaping, generate
from llm_core.generation.stepper import GenerationSession, TokenCost, distinct_ngrams, longest_repeat, trailing_loop
from llm_core.text.tokenizers import visible_whitespace

REPEAT_MIN = 16  # tokens: a stretch this long written twice is the text repeating itself, not a common phrase


def label(tokenizer, token_id: int) -> str:
    """A token's text with its whitespace visible (∅ for an empty token)."""
    return visible_whitespace(tokenizer.token_text(token_id)) or "∅"


def plot_text(text: str) -> str:
    """Text for a plotly title or label: plotly reads <b>, <br> and <a> in them, so escape."""
    return html.escape(text, quote=False)


def quoted(text: str) -> str:
    """A stretch of text in quotes for prose, its line breaks and tabs shown as in token chips (↵, →), not as \\n.

    >>> quoted("the sea,\\nAnd the sea")
    "'the sea,↵And the sea'"
    """
    return repr(text.replace("\r", "␍").replace("\n", "↵").replace("\t", "→"))


def no_minus_zero(x: float, digits: int = 2) -> float:
    """x, with anything that rounds to zero shown as 0.00 rather than -0.00."""
    return 0.0 if round(x, digits) == 0 else x



def comparison_pieces(tokenizer, prompt_ids: list[int], run: list) -> list[Piece]:
    """A stored generation run [(token id, probability, [(candidate id, probability)])] as coloured text."""
    pieces = [Piece(tokenizer.decode(prompt_ids))]
    for t, p, cands in run:
        others = ", ".join(f"{label(tokenizer, c)!r} {q:.0%}" for c, q in cands)
        pieces.append(Piece(tokenizer.token_text(t), p, f"{label(tokenizer, t)!r} {p:.1%}\nmost likely: {others}"))
    return pieces


def step_hover(tokenizer, session: GenerationSession, index: int) -> str:
    s = session.history[index]
    others = ", ".join(f"{label(tokenizer, c.token_id)!r} {c.raw_prob:.0%}" for c in s.candidates[:5])
    return (
        f"step {index + 1}: {label(tokenizer, s.token_id)!r}, probability {s.raw_prob:.1%} "
        f"(sampled at {s.prob:.1%} after temperature/top-k/top-p)\nmost likely: {others}"
    )


def text_pieces(tokenizer, session: GenerationSession, shown: int, context_start: int, ghost: int | None) -> list[Piece]:
    """The prompt and every generated token as coloured text; the step shown outlined, the next token dashed."""
    pieces = []
    plen = session.prompt_length
    # The prompt in grey, grouped into two spans: outside and inside the window.
    split = min(context_start, plen)
    if split:
        pieces.append(Piece(tokenizer.decode(session.ids[:split]), faded=True))
    if plen > split:
        pieces.append(Piece(tokenizer.decode(session.ids[split:plen])))
    for i, s in enumerate(session.history):
        pieces.append(Piece(tokenizer.token_text(s.token_id), s.raw_prob, step_hover(tokenizer, session, i), faded=plen + i < context_start, selected=i == shown))
    if ghost is not None:
        pieces.append(Piece(tokenizer.token_text(ghost), None, "the next token, if you press Step now", ghost=True))
    return pieces


CHOSEN = palette.VERMILLION  # the bar of the picked token (also hatched and labelled "picked")


def short_labels(names: list[str]) -> bool:
    """Whether every tick label is one character wide (a character model's): such labels fit side by side even on a
    phone, where plotly would otherwise turn them on their side and run them into each other."""
    return all(len(html.unescape(n)) <= 1 for n in names)


TICK_CHARS = 6  # a longer token (BPE) is cut to this many characters on the step chart's axis, "…" last; whole in hover and table
# A BPE model's labels, several characters each, stand on their side (a fixed angle: plotly chose one by the width, and at
# both widths ran them into each other and under the legend) at 10 px, narrow enough for the 20 bars' ~10 px each on a
# phone; the legend sits at the figure's bottom edge (yref "container"), so plotly makes room for it below the labels.
LONG_TICKS = dict(tickangle=-90, size=10, height=440)  # taller: on a phone the labels and the legend's 4 rows took most of 380 px
LEGEND_BELOW = dict(orientation="h", yref="container", y=0, yanchor="bottom", x=0)


def tick_name(name: str, limit: int = TICK_CHARS) -> str:
    """A token's (escaped) label for the axis: at most `limit` characters, cut with "…" (escaped again).

    >>> tick_name("&lt;tag&gt;"), tick_name("·together")
    ('&lt;tag&gt;', '·toge…')
    """
    text = html.unescape(name)
    return name if len(text) <= limit else html.escape(text[: limit - 1] + "…", quote=False)


def chart_spec(tokenizer, view, title: str, top_n: int, shaped: bool = True) -> dict:
    """A plotly figure as a dict (built directly: ~10x cheaper than the graph_objects helpers).

    Each series has one style for all its bars, so the legend (which takes its swatch from a series' first bar) shows
    it as drawn whichever token is picked; the picked bar is a series of its own ("picked"), drawn over its bar.
    `shaped=False` (before the temperature prediction is locked): the raw bars only, nothing temperature changes
    (shaped bars, what was cut, the running total), so the chart does not answer the question."""
    rows = view.rows
    xs = list(range(len(rows)))
    names = [html.escape(label(tokenizer, r.token_id)) for r in rows]
    ticks = []
    long = not short_labels(names)
    for r, name in zip(rows, names):
        name = tick_name(name) if long else name
        shown = name if r.rank < top_n else f"{name} (#{r.rank + 1})"
        ticks.append(f"<i style='color:{palette.MUTED}'>{shown}</i>" if r.cut_by and shaped else f"<b>{shown}</b>" if r.chosen else shown)
    if shaped:
        custom = [[name, r.raw_prob, r.prob, r.cut_by or "kept", r.running_total] for r, name in zip(rows, names)]
        hover = "%{customdata[0]}<br>raw %{customdata[1]:.2%}<br>shaped %{customdata[2]:.2%} (%{customdata[3]})<extra></extra>"
    else:
        custom = [[name, r.raw_prob] for r, name in zip(rows, names)]
        hover = "%{customdata[0]}<br>raw %{customdata[1]:.2%}<extra></extra>"
    chosen_x = next(i for i, r in enumerate(rows) if r.chosen)
    chosen = rows[chosen_x]
    data = [
        dict(type="bar", x=xs, y=[r.raw_prob for r in rows], name="raw (temperature 1)", customdata=custom, hovertemplate=hover,
             offsetgroup="raw", legendrank=1,
             marker=dict(color=[palette.LIGHT_GREY if r.cut_by and shaped else palette.SKY for r in rows])),
    ]
    if shaped:
        data += [
            dict(type="bar", x=xs, y=[r.prob for r in rows], name="shaped (sampled from)", customdata=custom, hovertemplate=hover,
                 offsetgroup="shaped", legendrank=2, marker=dict(color=palette.BLUE)),
            dict(type="scatter", mode="lines+markers", x=xs, y=[r.running_total for r in rows], yaxis="y2", name="running total (what top-p reads)",
                 line=dict(color=palette.GREY, width=1.5, dash="dot"), legendrank=4,
                 marker=dict(size=5, color=[palette.LIGHT_GREY if r.cut_by else palette.GREY for r in rows]),
                 hovertemplate="running total %{y:.1%}<extra></extra>"),
        ]
    picked_y = chosen.prob if shaped else chosen.raw_prob
    data.append(dict(type="bar", x=[chosen_x], y=[picked_y], name="picked", customdata=[custom[chosen_x]], hovertemplate=hover,
                     offsetgroup="shaped" if shaped else "raw", legendrank=3,
                     marker=dict(color=CHOSEN, pattern=dict(shape="x"), line=dict(color=palette.BLACK, width=1.5))))
    top = max(max(r.prob for r in rows) if shaped else 0, max(r.raw_prob for r in rows))
    y_top = top * 1.3 + 0.01  # room above the tallest bar for "picked"; ticks stop at 100%
    step = next((d for d in (0.01, 0.02, 0.05, 0.1, 0.2, 0.25) if min(top, 1.0) / d <= 5), 0.25)
    y_ticks = [round(i * step, 4) for i in range(int(min(top, 1.0) / step + 1e-9) + 1)]
    shapes, annotations = [], []
    if shaped and view.shaping.top_p and view.shaping.temperature:
        p = view.shaping.top_p
        # Where the running total's dots are not: at the right end they are above the line once the total passed p
        # within the bars shown (the label goes under the line, where the tail's bars are low), else below it.
        under = rows[-1].running_total >= p
        shapes.append(dict(type="line", xref="paper", x0=0, x1=1, yref="y2", y0=p, y1=p, line=dict(color=palette.MUTED, dash="dash", width=1)))
        annotations.append(dict(xref="paper", x=1, yref="y2", y=p, text=f"top-p {p:.2f}", showarrow=False,
                                xanchor="right", yanchor="top" if under else "bottom", font=dict(size=11, color=palette.MUTED)))
    # "picked" above every bar, its arrow straight down to the picked bar: the label covers no other bar.
    annotations.append(dict(x=chosen_x, y=max(chosen.prob if shaped else 0, chosen.raw_prob), text="picked", showarrow=True, arrowhead=2,
                            axref="x", ax=chosen_x, ayref="y", ay=top * 1.17, yanchor="bottom",
                            font=dict(color=palette.INK), arrowcolor=palette.INK))
    xaxis = dict(tickvals=xs, ticktext=ticks, tickfont=dict(family="monospace", size=LONG_TICKS["size"] if long else 13),
                 tickangle=LONG_TICKS["tickangle"] if long else 0)
    layout = dict(
        title=dict(text=title, font=dict(size=14)), barmode="group", height=LONG_TICKS["height"] if long else 380, margin=dict(t=50, b=40, l=50, r=60),
        xaxis=xaxis, yaxis=dict(title=dict(text="probability"), tickformat=".0%", range=[0, y_top], tickvals=y_ticks),
        legend=LEGEND_BELOW if long else dict(orientation="h", y=-0.14), shapes=shapes, annotations=annotations,
    )
    if shaped:
        layout["yaxis2"] = dict(overlaying="y", side="right", range=[0, 1.05], tickvals=[0, 0.25, 0.5, 0.75, 1], tickformat=".0%",
                                showgrid=False, title=dict(text="running total"))
    return dict(data=data, layout=layout)


class SpecFigure(dict):
    """A plotly figure as a plain dict that lab_ui.charts can style (`update_layout`) and check
    (`to_plotly_json`) without building graph_objects: validating a figure costs ~60 ms here, and
    Streamlit validates a dict once anyway when it draws it, so the step chart is validated once,
    not twice, on every Step and Play tick."""

    def update_layout(self, overwrite: bool = False, **changes) -> None:
        """As plotly's: `overwrite` replaces what `changes` names; without it, plotly merges nested
        properties, which the figures styled here never need (lab_ui.palette.apply sets whole values)."""
        self.setdefault("layout", {}).update(changes)

    def to_plotly_json(self) -> dict:
        return self


def step_chart(tokenizer, view, title: str, top_n: int, where, shaped: bool = True) -> None:
    """One step's distribution through lab_ui.charts: the figure, a sentence computed from it, its rows.
    `shaped=False`: the raw probabilities only (see chart_spec)."""
    rows = view.rows
    chosen = next(r for r in rows if r.chosen)
    top = rows[0]
    name = lambda r: literal(repr(label(tokenizer, r.token_id)))  # noqa: E731
    caption = f"The model's favourite is {name(top)} at {top.raw_prob:.0%}"
    if not shaped:
        caption += (f" (raw, temperature 1). The draw picks {name(chosen)} (rank {view.chosen_rank + 1}). What temperature, "
                    "top-k and top-p make of these bars (the shaped bars) shows here once your guess in "
                    "\u201cPredict, then see\u201d above is locked in.")
    elif view.shaping.temperature == 0:
        caption += "; greedy takes it every time."
    else:
        caption += (f"; after temperature {view.shaping.temperature:g}, top-k and top-p it has {top.prob:.0%}, and "
                    f"{view.kept:,} of {view.vocab_size:,} tokens can be picked. The draw picks {name(chosen)} "
                    f"(rank {view.chosen_rank + 1}, {chosen.prob:.0%} shaped, {chosen.raw_prob:.0%} raw).")
    if shaped:
        table = [{"rank": r.rank + 1, "token": label(tokenizer, r.token_id), "raw (temperature 1)": f"{r.raw_prob:.4f}",
                  "shaped (sampled from)": f"{r.prob:.4f}", "cut by": r.cut_by or "kept", "running total": f"{r.running_total:.4f}",
                  "picked": "yes" if r.chosen else ""} for r in rows]
    else:
        table = [{"rank": r.rank + 1, "token": label(tokenizer, r.token_id), "raw (temperature 1)": f"{r.raw_prob:.4f}",
                  "picked": "yes" if r.chosen else ""} for r in rows]
    charts.chart(SpecFigure(chart_spec(tokenizer, view, title, top_n, shaped)), key="gen_chart", caption=caption, table=table,
                 where=where, table_label="This step's candidates")


KV_REPEATS = 7  # timings per measurement of the KV cache; the median is shown


def one_run(model, prompt_ids: list[int], n: int, shaping: Shaping, seed: int, stop_ids: list[int]) -> list:
    """One generation kept small for the session: [(token id, probability, [(candidate id, probability)])]."""
    steps = generate(model, prompt_ids, n, shaping.temperature, shaping.top_k, shaping.top_p, seed=seed, stop_ids=stop_ids,
                     top_n=5, keep_logits=False)
    return [(step.token_id, step.raw_prob, [(c.token_id, c.raw_prob) for c in step.candidates]) for step in steps]


def loop_words(ids: list[int], tokenizer, unit: str) -> tuple[str, bool]:
    """What a run shows about repeating itself, in words from its tokens, and whether it repeated a long stretch."""
    units = f"{unit}s"
    rep = longest_repeat(ids)
    if rep is None or rep.length < REPEAT_MIN:
        longest = rep.length if rep else 0
        return f"its longest stretch written twice is {longest} {units} (under {REPEAT_MIN}: no loop)", False
    stretch = literal(quoted(tokenizer.decode(ids[rep.first_at : rep.first_at + rep.length])))
    words = f"it wrote the {rep.length} {units} {stretch} at {unit} {rep.first_at + 1} and again at {unit} {rep.again_at + 1}"
    period, covered = trailing_loop(ids)
    if period:
        words += f", and its last {covered} {units} repeat a {period}-{unit} cycle to the end"
    return words, True


def show_comparison(tokenizer, prompt_ids: list[int], made_with: tuple, runs: dict, current: tuple, seed: int, unit: str) -> None:
    """The two runs side by side, each with what was measured on it, and what the comparison shows in words."""
    if made_with != current:
        st.caption("Made with other settings or another prompt than the current ones; press the button again to update.")
    measured = {}
    for col, (name, run) in zip(st.columns(2), runs.items()):
        ids = [t for t, _, _ in run]
        loop, repeated = loop_words(ids, tokenizer, unit)
        distinct = distinct_ngrams(ids)
        measured[name] = (loop, repeated, distinct)
        with col:
            s = Shaping(0) if name == "greedy" else made_with[1]
            st.subheader("Greedy (temperature 0)" if name == "greedy" else f"Sampled (temperature {s.temperature:g}, top-k {s.top_k or 'off'}, top-p {s.top_p or 'off'}, seed {seed})")
            st.html(prob_text_html(comparison_pieces(tokenizer, prompt_ids, run)))
            avg = sum(p for _, p, _ in run) / max(1, len(run))
            share = "–" if math.isnan(distinct) else f"{distinct:.0%}"
            st.caption(f"Distinct 4-token sequences: **{share}** · {loop} · average probability {avg:.0%}")
    (g_loop, g_rep, g_distinct), (s_loop, _, s_distinct) = measured["greedy"], measured["sampled"]
    if g_rep:
        text = (
            f"**What this comparison shows: greedy repeated itself.** {g_loop[0].upper() + g_loop[1:]}. Greedy always takes the "
            "most likely token, so what it writes next is fixed by the text it sees: once a stretch comes back, the same "
            "choices can follow again, and nothing random is there to break the cycle."
        )
    else:
        text = (f"**What this comparison shows: greedy did not repeat itself here** ({g_loop}). It still writes exactly this "
                "text every time from this prompt: nothing in it is random.")
    if [t for t, _, _ in runs["greedy"]] == [t for t, _, _ in runs["sampled"]]:
        text += (" **The sampled text is the same as greedy's:** with these settings the draw took the most likely token at "
                 "every step, so there is nothing to compare. Raise the temperature or top-p for a different text.")
        st.markdown(text)
        return
    text += f" The sampled text: {s_loop}."
    if not (math.isnan(g_distinct) or math.isnan(s_distinct)):
        more = "more" if s_distinct > g_distinct else "fewer" if s_distinct < g_distinct else "as many"
        text += f" It has {more} different 4-token sequences ({s_distinct:.0%} against greedy's {g_distinct:.0%})."
    st.markdown(text)


def show_kv_cost(length: int, cost: TokenCost, repeats: int) -> None:
    m1, m2, m3 = st.columns(3)
    m1.metric("With the cache", f"{cost.cached_ms:.2f} ms/token")
    m2.metric("Without the cache", f"{cost.uncached_ms:.2f} ms/token")
    m3.metric("Speed-up", f"{cost.uncached_ms / cost.cached_ms:.1f}x")
    st.caption(
        f"Measured at {length} tokens: the model looks at {cost.context_tokens} of them (median of {repeats} runs; other users on "
        f"this server make timings noisy). With the cache, each slide of the window costs a refill of {cost.refill_ms:.1f} ms "
        f"every {cost.refill_every} tokens."
    )


def context_note(prompt_length: int, max_new: int, block: int) -> str:
    """Why text will fall out of the model's window, for a prompt and max length that outgrow it."""
    half = max(1, block // 2)
    if prompt_length > block:
        return (
            f"The prompt alone is {prompt_length} tokens, more than the model's context of {block}: the model sees only "
            f"its last part. As the text grows, the window slides forward by half a context ({half} tokens) at a time; "
            "faded text below is what the model no longer sees at the step shown."
        )
    return (
        f"Prompt + max new tokens = {prompt_length + max_new} tokens, more than the model's context of {block}. "
        f"When the text outgrows it, the window slides forward by half a context ({half} tokens): the model then sees only "
        f"the last {half} to {block} tokens. Faded text below is outside the window at the step shown."
    )


def show_step_numbers(view, chosen: str, context_start: int, context_length: int, block: int, shaped: bool = True) -> None:
    """One step's entropy, its random draw and the window the model saw (all from the step's stored numbers).
    `shaped=False`: the raw entropy only (the shaped one would answer the temperature prediction)."""
    st.metric("Entropy, raw", f"{no_minus_zero(view.raw_entropy):.2f} nats",
              help=f"How unsure the model is of the next token: 0 when it is certain, {math.log(view.vocab_size):.2f} when every one of its "
                   f"{view.vocab_size:,} tokens is equally likely (the natural log of {view.vocab_size:,}).")
    if shaped:
        st.metric("Entropy, shaped", f"{no_minus_zero(view.entropy):.2f} nats", delta=f"{no_minus_zero(view.entropy - view.raw_entropy):+.2f}", delta_color="off")
        st.caption(
            f"As uncertain as a fair choice among **{math.exp(view.raw_entropy):.1f}** tokens (raw) or "
            f"**{math.exp(view.entropy):.1f}** (shaped). {view.kept:,} of {view.vocab_size:,} tokens can be picked."
        )
    else:
        st.caption(f"As uncertain as a fair choice among **{math.exp(view.raw_entropy):.1f}** tokens (raw).")
    if view.shaping.temperature and not shaped:  # the draw is read against the shaped bars, which wait for the temperature guess
        st.caption(f"The random draw was **{view.draw:.3f}**; how it picked {literal(repr(chosen))} from the bars your settings shaped "
                   "shows once your temperature guess is locked in.")
    elif view.shaping.temperature:
        st.caption(
            f"The random draw was **{view.draw:.3f}**: walking down the shaped bars from the most likely, the running "
            f"total first passes it at {literal(repr(chosen))} (rank {view.chosen_rank + 1})."
        )
    else:
        st.caption("Greedy: the most likely token wins; the random draw is not used.")
    st.caption(f"The model saw tokens {context_start + 1}–{context_start + context_length} ({context_length} of its context of {block}).")
