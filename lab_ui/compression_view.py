"""The Compression and cost chapter's views and sentences: the idea in plain words, the live
compression and its reveal, the held-out measurement, weights + coded text, running against
training, and the sentences that say what each figure means.

What it is: every sentence here is computed from the figures it is given (the current model's, or
published ones read from the register through llm_core), and none can read "inf", "nan" or
"-0.00": a model that never pays for its weights says so in words. The reveals of the chapter's
"Predict, then see" checkpoints are built here (`*_reveal`), from figures the page computes at
that moment. What it is not: maths (llm_core.compression) or the page's order (pages/compression.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import streamlit as st

from lab_ui import charts, predict
from lab_ui import compression_figures as figs
from lab_ui.widgets import page_link, table_html, text_block
from llm_core.compression import costs
from llm_core.compression.baselines import UNICODE_SIZE
from llm_core.compression.running import RunVsTrain
from llm_core.literature import cite, claim, value
from llm_core.model.anatomy import human_bytes

PLAIN_BITS = 8  # bits per character of plain text (one byte per character of ASCII)


# ---- numbers in words: never inf, nan or -0.00 ---------------------------------------------

def signed_percent(x: float, digits: int = 2) -> str:
    """A relative change as a signed percentage that never reads -0.00%.

    >>> signed_percent(-0.00001), signed_percent(0.0123), signed_percent(-0.05), signed_percent(float("nan"))
    ('+0.00%', '+1.23%', '-5.00%', 'not measurable')
    """
    if not math.isfinite(x):
        return "not measurable"
    shown = round(100 * x, digits)
    return f"{'-' if shown < 0 else '+'}{abs(shown):.{digits}f}%"


def per_second(chars_per_s: float) -> str:
    """
    >>> per_second(1234.5), per_second(float("inf"))
    ('1,234 characters per second', 'too fast to time')
    """
    return f"{chars_per_s:,.0f} characters per second" if math.isfinite(chars_per_s) else "too fast to time"


def duration(days: float) -> str:
    """A span of days in the unit a person would use.

    >>> duration(6000), duration(0.0125), duration(3.2), duration(45), duration(1e-6)
    ('16 years', '18 minutes', '3.2 days', '1.5 months', 'under a second')
    """
    seconds = days * 86400
    for unit, size in (("years", 365.25 * 86400), ("months", 30.44 * 86400), ("days", 86400), ("hours", 3600), ("minutes", 60), ("seconds", 1)):
        if seconds >= size:
            n = seconds / size
            return f"{n:,.0f} {unit}" if n >= 10 else f"{n:.1f} {unit}"
    return "under a second"


# ---- the first screen ------------------------------------------------------------------------

def idea(model_name: str) -> None:
    """The chapter's idea in plain words, before any coder or table."""
    text_bytes, file_bytes = value("talk_text_bytes"), value("talk_weights_bytes")
    st.markdown(
        "**Good prediction is compression.** When the model is sure what comes next and is right, writing that "
        "character down costs almost nothing; a surprise costs many bits. So a model that predicts a text well can "
        "store it in few bits, and, running the same predictions again, read it back exactly."
    )
    st.markdown(
        f"**Training is lossy compression.** Training squeezes a pile of text into a file of numbers, the model's "
        f"weights. Llama 2 70B was trained on about {human_bytes(text_bytes)} of text and its file is {human_bytes(file_bytes)}, "
        f"{text_bytes / file_bytes:.0f} times smaller ({cite('karpathy2023')}): far too small to hold the text itself, "
        "so it keeps the patterns and loses most of the words."
    )
    st.markdown(
        f"Below, the current model (*{model_name}*) compresses a text for real and decodes it back; then you weigh its "
        "file against the text it learned from, compare running a model with training it, and price a model of any size."
    )


def details_of_the_coder() -> None:
    with st.expander("The details: from probabilities to bits"):
        st.markdown(
            f"If the model gives the character that really comes next a probability *p*, it can be stored in about "
            f"**-log₂ p bits** ({cite('shannon1948')}): a sure, right guess (p = 1) costs nothing, a coin flip (p = ½) one bit. "
            f"An **arithmetic (range) coder** ({cite('witten1987')}) turns the model's probabilities into an actual file within a few "
            "bytes of that sum; the decompressor runs the same model, gets the same probabilities and reads the text back exactly. "
            f"So the model's cross-entropy *is* a compressed size, one you can check by decompressing ({cite('deletang2023')}, "
            f"*Language Modeling Is Compression*). The comparison: gzip ({cite('deutsch1996')}), bzip2 and xz, the everyday "
            "compressors, and the simplest language model there is, an order-3 count model: it counts which character "
            "followed the last three so far and predicts from those counts."
        )
        st.markdown(
            "The compressor and the decompressor must see the same probabilities to the last bit, so both run the model the same way: on the CPU, "
            "in 32-bit floats, on one thread, one token at a time. Characters a character model has no token for (emoji, "
            f"Chinese) go through an escape that spells them out, at about {math.log2(UNICODE_SIZE):.0f} bits each the first time (its Unicode number)."
        )


# ---- 1 · compress a text ------------------------------------------------------------------

GZIP = "gzip -9"
BEATS_GZIP_CHOICES = ["the model: fewer bytes", "gzip: fewer bytes"]


def beats_gzip_reveal(guess: str, result: dict | None, corpus: str) -> predict.Reveal | None:
    """Model against gzip on the learner's text, from the compression just made."""
    if not result or "packed" not in result:
        return None
    packed = result["packed"]
    gz = next(r for r in result["baselines"] if r.name == GZIP)
    n = max(1, packed.n_chars)
    model_bytes, gzip_bytes = len(packed.data), gz.size_bytes
    model_wins = model_bytes < gzip_bytes
    cheap = sum(1 for _, b in packed.pieces if b < 1) / max(1, len(packed.pieces))
    costliest = max(packed.pieces, key=lambda p: p[1]) if packed.pieces else ("", 0.0)
    # On a short text the file's header dominates: its average per character can exceed every character's own cost
    rate = (f"{8 * model_bytes / n:.2f} bits per character" if n >= 200 else
            f"{8 * model_bytes / n:.2f} bits per character with its {packed.header_bytes}-byte header, {8 * packed.payload_bytes / n:.2f} without")
    answer = (f"The model's file is {model_bytes:,} bytes ({rate}), gzip's {gzip_bytes:,} "
              f"({8 * gzip_bytes / n:.2f}): " + (f"the model wins by {gzip_bytes - model_bytes:,} bytes." if model_wins else
                                                  "a tie." if model_bytes == gzip_bytes else f"gzip wins by {model_bytes - gzip_bytes:,} bytes."))
    if model_wins:
        why = (f"{cheap:.0%} of the characters cost the model under 1 bit, because they continue the way the {corpus} text it learned "
               "from does; gzip can only save on strings it has already met in this text.")
    else:
        share = "none of the characters" if cheap == 0 else f"only {cheap:.0%} of the characters"
        why = (f"{share} cost the model under 1 bit (its costliest, {costliest[0]!r}, {costliest[1]:.1f} bits): "
               f"this text does not continue the way the {corpus} text it learned from does" +
               (f", and {packed.n_escapes:,} character(s) were outside its vocabulary and had to be spelled out" if packed.n_escapes else "") +
               ". A model compresses well only what it predicts well.")
    if n < 200:
        why += f" (On a text this short the files' fixed parts weigh a lot: {packed.header_bytes} bytes of the model's header, 18 of gzip's.)"
    return predict.Reveal(answer, guess == BEATS_GZIP_CHOICES[0 if model_wins else 1], why[0].upper() + why[1:])


def show_live_result(result: dict, text: str, model_name: str) -> None:
    """The table of sizes, the round trip, the bars and where the bits went, for the text just coded."""
    packed, back = result["packed"], result["back"]
    n = max(1, len(text))
    row = lambda method, size, exact: {"method": method, "bytes": f"{size:,}", "bits per character": f"{8 * size / n:.3f}", "round trip": exact}
    rows = [row(f"model ({model_name}) + range coder", len(packed.data), "exact" if back.text == text else "NOT exact")]
    rows += [row(r.name, r.size_bytes, "exact" if r.exact else "NOT exact") for r in result["baselines"]]
    st.markdown(table_html([row("the text (UTF-8)", len(text.encode()), "")] + rows), unsafe_allow_html=True)
    if back.text == text:
        st.success(f"Round trip exact: the .llmz file decoded back to all {len(text):,} characters, identical to your text (SHA-256 checked).",
                   icon=":material/check_circle:")
    else:
        st.error("The round trip was not exact.")
    bars = [(r["method"], float(r["bits per character"])) for r in rows]
    plain = 8 * len(text.encode()) / n  # 8 for text of one byte a character; more where characters take several bytes
    charts.chart(figs.bits_figure(bars, "On your text"), key="compress_bars", caption=figs.bits_caption(bars, plain), table=figs.bits_table(bars, n))
    with st.expander("The details: the file, the coder and its speed"):
        st.caption(
            f"The model's file: {packed.header_bytes} bytes of header + {packed.payload_bytes:,} bytes of coded text. Its ideal code length "
            f"(the sum of -log₂ p) is {packed.ideal_bits_per_char:.3f} bits per character; the range coder spent {packed.payload_bits_per_char:.3f} "
            f"(on a short text the coder's last word and the header weigh more). {packed.n_escapes:,} character(s) outside the model's vocabulary "
            f"were coded with an escape. Encoded at {per_second(packed.chars_per_s)} and decoded at {per_second(back.chars_per_s)} on this machine: "
            "one model step per token, on one thread, in 32-bit floats, the same way on both sides, or the decompressor would drift from the "
            "compressor's probabilities. The order-3 size is its ideal code length."
        )
    st.download_button("Download the compressed file (.llmz)", lambda: packed.data, file_name="text.llmz", mime="application/octet-stream", key="compress_dl",
                       on_click="ignore")  # sent when clicked, not with every run (model_files.py says why)
    st.subheader("Where the model spent its bits")
    st.markdown(figs.legend_html() + figs.bits_html(packed.pieces), unsafe_allow_html=True)
    st.caption("Each character's background says what it cost (with a mouse, hover a character for its figure; every figure is in the table "
               "below). The most surprising ones:")
    st.markdown(table_html(figs.surprises(packed.pieces)), unsafe_allow_html=True)
    # Drawn once opened: a 5,000-character text is a table of 5,000 rows, not to be sent with every run
    every = st.expander(f"What each of the {len(packed.pieces):,} pieces cost, as a table", key="compress_every_piece", on_change="rerun")
    if every.open:
        every.markdown(table_html(figs.every_piece(packed.pieces)), unsafe_allow_html=True)


# ---- bits per character on held-out text -------------------------------------------------------

@dataclass(frozen=True)
class HeldOutRate:
    bits_per_char: float
    n_chars: int | None  # characters measured now (None: from the training record)
    gzip_bits_per_char: float | None
    where: str  # what it was measured on, in words
    vocab_size: int = 0  # a character model's vocabulary: a blind guess costs log2(vocab_size) bits a character (0: not a character model)


def share_of_plain(bpc: float) -> str:
    """What coding does to the text's size, in words.

    >>> share_of_plain(2.08), share_of_plain(150.7)
    ('shrinks to 26% of its plain size', 'grows to 18.8 times its plain size')
    """
    return f"shrinks to {bpc / PLAIN_BITS:.0%} of its plain size" if bpc <= PLAIN_BITS else f"grows to {bpc / PLAIN_BITS:.1f} times its plain size"


BITS_BANDS = [("under 1", 0, 1), ("1 to 2", 1, 2), ("2 to 3", 2, 3), ("3 to 5", 3, 5), ("5 to 8", 5, 8), ("more than 8", 8, math.inf)]


def bits_band(bpc: float) -> str:
    """
    >>> bits_band(2.08), bits_band(0.4), bits_band(9)
    ('2 to 3', 'under 1', 'more than 8')
    """
    return next(name for name, low, high in BITS_BANDS if low <= bpc < high)


def bits_reveal(guess: str, rate: HeldOutRate | None) -> predict.Reveal | None:
    if rate is None:
        return None
    bpc = rate.bits_per_char
    if not math.isfinite(bpc):
        return predict.Reveal("This model's predictions are not numbers (its weights broke, as after a diverged training run): it cannot "
                              "code any text.", None, "A model that diverged has to be trained again, with a lower learning rate.")
    answer = f"{bpc:.2f} bits per character, {rate.where}: the text {share_of_plain(bpc)}."
    blind = math.log2(rate.vocab_size) if rate.vocab_size > 1 else None
    if blind and bpc > blind:
        why = (f"Each character costs -log₂ p bits. A blind guess among its {rate.vocab_size} tokens would cost {blind:.2f}; {bpc:.2f} is worse than "
               "guessing blindly: the model is sure of the wrong characters, and a sure mistake costs the most")
    else:
        why = (f"Each character costs -log₂ p bits, so {bpc:.2f} bits means the model is, on average, as unsure as if it were choosing among "
               f"{2 ** bpc:.1f} equally likely characters" + (f" (a blind guess among its {rate.vocab_size} tokens would cost {blind:.2f} bits)" if blind else ""))
    why += f"; gzip needs {rate.gzip_bits_per_char:.2f} on the same text." if rate.gzip_bits_per_char else "."
    return predict.Reveal(answer, bits_band(bpc) == guess, why)


def show_heldout_file(heldout: dict, name: str) -> None:
    """The precomputed whole held-out split: coded for real, with the baselines (`name`: the model as the sidebar names it)."""
    rows = [(f"model ({name})", heldout["bits_per_char"])] + [(b["name"], b["bits_per_char"]) for b in heldout["baselines"]]
    charts.chart(figs.bits_figure(rows, f"The held-out {heldout['n_chars']:,} characters of {heldout['corpus']}"), key="heldout_bars",
                 caption=figs.bits_caption(rows) + " Coded for real, the whole held-out split.", table=figs.bits_table(rows, heldout["n_chars"]))
    notes = [
        f"Round trip {'exact' if heldout['exact'] else 'NOT exact'}. The file holds {heldout['file_bytes']:,} bytes: {heldout['bits_per_char']:.4f} bits per character, "
        f"against an ideal code length of {heldout['ideal_bits_per_char']:.4f} (range coder overhead {100 * heldout['coder_overhead']:.3f}%)."
    ]
    measured = heldout.get("measured_bits_per_char")
    if measured:
        notes.append(f"The model's validation loss is {measured:.4f} bits per character; this file is {signed_percent(heldout['bits_per_char'] / measured - 1)} from it, "
                     "as the coder slides its context by half a window and so gives each character more context than the loss's fixed windows.")
        if "fixed_window" in heldout:
            fixed = heldout["fixed_window"]["bits_per_char"]
            notes.append(f"Coded with fixed windows like the loss (`--window fixed`): {fixed:.4f}, {signed_percent(fixed / measured - 1)} from it.")
    notes.append(f"Encoded at {per_second(heldout['encode_chars_per_s'])} and decoded at {per_second(heldout['decode_chars_per_s'])}, load average "
                 f"{heldout['loadavg'][0]:.1f} on 2 cores ({heldout['measured_at']}); made with `{heldout['command']}`.")
    with st.expander("The details: the held-out file"):
        st.caption(" ".join(notes))


# ---- 2 · weights + coded text -------------------------------------------------------------

DESCRIPTION_CHOICES = ["less room than the text", "more room than the text"]


def pays_off(d: costs.DescriptionLength, against: str) -> str:
    """When weights + coded text beat `against`, in words; never "inf".

    >>> pays_off(costs.DescriptionLength(3e6, 1e6, 0.27, 1.0), "storing the text")
    'it pays off against storing the text once the text exceeds 4.1 MB'
    >>> pays_off(costs.DescriptionLength(3e6, 1e6, 1.1, 1.0), "storing the text")
    'it never pays off against storing the text: it codes each character in more bits than storing it takes, so no amount of text pays back its weights'
    """
    if d.coded_rate >= d.reference_rate:
        return (f"it never pays off against {against}: it codes each character in more bits than "
                f"{'storing it takes' if d.reference_rate == 1.0 else against + ' does'}, so no amount of text pays back its weights")
    return f"it pays off against {against} once the text exceeds {human_bytes(d.break_even_bytes)}"


def description_sentence(weights: float, text_bytes: float, rate_bpc: float, rate_where: str, best: tuple[str, float] | None) -> str:
    """This model's lossless description of its corpus (weights + coded text) against the text, in words.

    >>> description_sentence(3.2e6, 1.1e6, 2.16, "measured now", ("bzip2 -9", 2.64))  # doctest: +NORMALIZE_WHITESPACE
    'At the rate measured now (2.16 bits per character), its weights file plus the coded text (3.5 MB) is larger than
    the text itself (1.1 MB): it pays off against storing the text once the text exceeds 4.4 MB, and it pays off against
    bzip2 -9 once the text exceeds 53 MB.'
    """
    ours = costs.DescriptionLength(weights, text_bytes, rate_bpc / PLAIN_BITS, 1.0)
    words = (f"At the rate {rate_where} ({rate_bpc:.2f} bits per character), its weights file plus the coded text ({human_bytes(ours.total_bytes)}) "
             f"is {'smaller' if ours.total_bytes < text_bytes else 'larger'} than the text itself ({human_bytes(text_bytes)}): {pays_off(ours, 'storing the text')}")
    if best is not None:
        ref = costs.DescriptionLength(weights, text_bytes, rate_bpc / PLAIN_BITS, best[1] / PLAIN_BITS)
        named = best[0] if best[0].split()[0] in ("gzip", "bzip2", "xz") else f"the {best[0]}"  # "the order-3 count model"
        if ours.coded_rate >= ours.reference_rate and ref.coded_rate >= ref.reference_rate:
            return (words.split(": it never pays off")[0] + f": it never pays off, against storing the text or against {named}: it codes each "
                    "character in more bits than either, so no amount of text pays back its weights.")
        words += f", and {pays_off(ref, named)}"
    return words + "."


def description_reveal(guess: str, weights: float, text_bytes: float, rate: HeldOutRate | None, corpus: str) -> predict.Reveal | None:
    if rate is None or not math.isfinite(rate.bits_per_char):
        return None
    d = costs.DescriptionLength(weights, text_bytes, rate.bits_per_char / PLAIN_BITS, 1.0)
    smaller = d.total_bytes < text_bytes
    answer = (f"Weights {human_bytes(weights)} + the {corpus} text coded at {rate.bits_per_char:.2f} bits per character "
              f"({human_bytes(d.coded_bytes)}) = {human_bytes(d.total_bytes)}, against {human_bytes(text_bytes)} of text: "
              f"{'less' if smaller else 'more'} room than the text.")
    if weights >= text_bytes:
        why = (f"The weights file alone is {weights / text_bytes:.1f} times the text it learned from, so however well it codes the text, "
               f"the sum is larger; {pays_off(d, 'storing the text')}. Real models are the other way round: Llama 2 70B's file is "
               f"about {value('talk_text_bytes') / value('talk_weights_bytes'):.0f} times smaller than its text.")
    else:
        why = (f"The weights file is {weights / text_bytes:.0%} of the text, and coded, the text {share_of_plain(rate.bits_per_char)}; "
               f"{pays_off(d, 'storing the text')}.")
    return predict.Reveal(answer, guess == DESCRIPTION_CHOICES[0 if smaller else 1], why)


def show_llama_description() -> None:
    """Llama 2 70B: its file against its text, and weights + coded text at a rate borrowed from Delétang et al."""
    text_bytes, weights = value("talk_text_bytes"), value("talk_weights_bytes")
    chin, gz = claim("deletang_chinchilla70b_enwik9"), claim("deletang_gzip_enwik9")
    ours = costs.DescriptionLength(weights, text_bytes, chin.value / 100, 1.0)
    vs_gzip = costs.DescriptionLength(weights, text_bytes, chin.value / 100, gz.value / 100)
    st.markdown(f"**Llama 2 70B** on about {human_bytes(text_bytes)} of text")
    st.markdown(table_html(figs.description_rows(weights, text_bytes, ours.coded_rate, {"gzip": gz.value / 100}, "byte")), unsafe_allow_html=True)
    st.caption(
        f"The {human_bytes(weights)} file alone is {text_bytes / weights:.0f} times smaller than the text: that is the lossy compression "
        f"{cite('karpathy2023')} describes. To store the text losslessly as well, borrow a measured rate: Chinchilla 70B, a model of the same "
        f"size, coded enwik9 (the first {human_bytes(value('enwik9_bytes'))} of an English Wikipedia dump, {cite('mahoney2006')}) into "
        f"{chin.value:g}% of its raw size ({chin.cite()}; gzip: {gz.value:g}%). At that rate (an assumption: another model, another text), "
        f"weights + coded text come to {human_bytes(ours.total_bytes)}; {pays_off(vs_gzip, 'gzip')}, "
        f"{text_bytes / vs_gzip.break_even_bytes:.0f} times less text than it was trained on."
    )


def show_memorisation(mem: dict) -> None:
    best, typical = mem["recited"][0], mem["typical"]
    st.markdown(
        f"Greedy decoding (always taking the model's top guess) follows the text only while that guess is right. Over "
        f"{mem['scanned_chars']:,} characters of its training text, the top guess was right {100 * mem['top1_train']:.1f}% of the time "
        f"({100 * mem['top1_val']:.1f}% on held-out text it never saw); prompted anywhere, it stays on the real text for "
        f"{mem['mean_run_train']:.2f} characters on average ({mem['mean_run_val']:.2f} held out). The longest passage it recites is "
        f"{mem['longest_run_train']} characters ({mem['longest_run_val']} on held-out text). It fits what it saw a little better "
        f"({mem['mean_run_train'] / max(mem['mean_run_val'], 1e-9):.1f} times as far on training text), but greedy prompting gets no passage "
        f"longer than {mem['longest_run_train']} characters back out of its weights."
    )
    with st.expander("Its longest recital, and a typical prompt"):
        c1, c2 = st.columns(2)
        shown = ((c1, best, f"Its longest recital: {best['matched_chars']} characters right"),
                 (c2, typical, f"A typical prompt: {typical['matched_chars']} characters right, then its own text"))
        for col, probe, title in shown:
            with col.container(border=True):
                st.markdown(f"**{title}**")
                st.caption("Prompt (from the training text), then the real text and the model's greedy continuation:")
                text_block(probe["prompt"][-64:])
                st.text("real:  " + probe["truth"].replace("\n", "↵"))
                st.text("model: " + probe["output"].replace("\n", "↵"))
    st.caption(f"Large models do recite: {cite('carlini2021')} extracted verbatim training text from GPT-2; a model that stored all its data "
               "would be a lossless copy. Computed by `python -m benchmarks.compression --write-asset`.")


# ---- 3 · running against training ------------------------------------------------------------

RUN_CHOICES = [("about as many as it trained on", 1.0), ("about 3 times as many", 3.0), ("about 100 times as many", 100.0),
               ("about a million times as many", 1e6)]


def run_vs_train_reveal(guess: str, ours: RunVsTrain, llama: RunVsTrain) -> predict.Reveal | None:
    if not ours.tokens_matching_training:
        return None
    factor = ours.tokens_matching_training / ours.train_tokens
    nearest = min(RUN_CHOICES, key=lambda c: abs(math.log(c[1]) - math.log(factor)))[0]
    answer = (f"About {ours.tokens_matching_training:,.0f} tokens: {factor:.2f} times the {ours.train_tokens:,.0f} it trained on. "
              f"For Llama 2 70B, {llama.tokens_matching_training:.1e} tokens against its {llama.train_tokens:.1e}: {llama.ratio:g} times too.")
    why = (f"Generating a token runs the model forward once ({ours.run_flops_per_token:,.0f} FLOPs for this one); training on a token runs it "
           f"forward and then backward to adjust every weight, which costs twice the forward pass again ({ours.train_flops_per_token:,.0f} FLOPs, "
           f"{ours.ratio:.2f} times as much). The ratio does not depend on the model's size: about {value('kaplan_forward_flops_per_param_token'):g} "
           f"FLOPs per parameter for a token run, about {value('kaplan_flops_per_param_token'):g} for a token trained on ({cite('kaplan2020')}).")
    return predict.Reveal(answer, guess == nearest, why)


def run_rows(models: list[RunVsTrain]) -> list[dict]:
    fmt = lambda x: f"{x:,.0f}" if x < 1e9 else f"{x:.2e}"
    rows = [
        ("parameters", lambda m: fmt(m.params)),
        ("FLOPs to run it on one token (generate one token)", lambda m: fmt(m.run_flops_per_token)),
        ("FLOPs to train it on one token", lambda m: fmt(m.train_flops_per_token)),
        ("training tokens", lambda m: fmt(m.train_tokens) if m.train_tokens else "not recorded"),
        ("training compute (FLOPs)", lambda m: fmt(m.train_flops) if m.train_flops else "not recorded"),
        ("tokens it could generate for that compute", lambda m: fmt(m.tokens_matching_training) if m.tokens_matching_training else "not recorded"),
    ]
    return [{"figure": label, **{m.name: f(m) for m in models}} for label, f in rows] + [{"figure": "how it is counted", **{m.name: m.how for m in models}}]


def running_sentence(models: list[RunVsTrain], requests_per_day: float, tokens_per_request: float) -> str:
    """When running has cost as much compute as training did, for each model, at a given use.

    >>> from llm_core.compression.running import llama2_70b
    >>> running_sentence([llama2_70b()], 1e6, 1000)
    'Answering 1,000,000 requests a day of 1,000 tokens each (prompt and answer), running uses as much compute as training did after 16 years for Llama 2 70B.'
    """
    spans = [(m.name, m.days_until_running_matches_training(requests_per_day, tokens_per_request)) for m in models]
    known = [f"{duration(d)} for {name}" for name, d in spans if d is not None]
    if not known:
        return "With no requests, running costs nothing and training is the whole bill."
    return (f"Answering {requests_per_day:,.0f} requests a day of {tokens_per_request:,.0f} tokens each (prompt and answer), running uses as much "
            f"compute as training did after {' and '.join(known)}.")


def show_running_intro() -> None:
    st.markdown(
        "Once trained, a model is **run** (inference) every time someone asks it something. Running it on one token is one pass "
        "forward through its weights. Training on a token is that pass and a backward one that works out how to change every weight. "
        "Generating a token costs a single pass only thanks to the KV cache, which the Generate chapter measures. "
        "Both are counted in **FLOPs**: the arithmetic steps (additions and multiplications) the computer does. "
        "How many each pass costs comes with the answer below, with its source."
    )
    page_link("pages/generation.py", "Generate: the KV cache, measured", ":material/casino:")


def show_running(models: list[RunVsTrain]) -> None:
    st.markdown(table_html(run_rows(models)), unsafe_allow_html=True)
    c1, c2 = st.columns(2)
    requests = c1.number_input("Requests a day", min_value=0, max_value=10_000_000_000, value=1_000_000, step=100_000, key="run_requests")
    tokens = c2.number_input("Tokens per request (prompt and answer)", min_value=1, max_value=1_000_000, value=1_000, step=100, key="run_tokens")
    st.markdown(running_sentence(models, requests, tokens))
    st.caption(
        "Training is paid once; running is paid again on every token of every answer. The more text a model was trained on, the longer "
        "its one training bill outweighs running it; the more people use it, the sooner running costs more in total. These are FLOPs, not "
        "dollars: a GPU generating one token at a time spends most of its time waiting on memory, so a FLOP of running costs more than a "
        "FLOP of training (answering many requests together wins some of that back)."
    )


# ---- 4 · the cost calculator -----------------------------------------------------------------

def price_note(assumed_price: float) -> str:
    return (f"the talk's about ${value('talk_cost') / 1e6:.0f}M over the paper's A100-hours, ${assumed_price:.2f} per GPU-hour: "
            "an assumed price, not a published one")


def calculator_rows(est: costs.Estimate, shape: costs.SizeClass, context: int, assumed_price: float) -> list[dict]:
    """Every figure of the calculator for one size, with how it was computed."""
    per = costs.BYTES_PER_PARAM
    rows = [{"figure": f"weights file, {p}", "value": human_bytes(costs.weights_bytes(est.params, p)), "how": f"{per[p]:g} byte{'' if per[p] == 1 else 's'} per parameter"}
            for p in per]
    for p in ("bf16", "int4"):
        w, kv = costs.run_memory_bytes(shape, p, context)
        layers, width = (shape.n_layer, shape.kv_dim) if shape.n_layer else costs.estimated_shape(est.params)
        how = "published shape" if shape.n_layer else (f"shape estimated: parameters ~ 12 x layers x width², width = 128 x layers: {layers} layers of width {width:,}" if width == 128 * layers
               else f"shape estimated: parameters ~ 12 x width² for one layer, too few for one of width 128: width {width:,}")
        rows.append({"figure": f"memory to run, {p} weights, {context:,}-token KV cache", "value": human_bytes(w + kv),
                     "how": f"weights {human_bytes(w)} + KV cache {human_bytes(kv)} (16-bit keys and values; {how})"})
    gpu = est.gpu
    rows += [
        {"figure": "training compute", "value": f"{est.train_flops:.3g} FLOPs", "how": f"6 x parameters x tokens ({cite('kaplan2020')})"},
        {"figure": f"GPU-hours on {gpu.name}", "value": f"{est.gpu_hours:,.0f}", "how": f"at {100 * est.utilisation:.1f}% of {gpu.peak_flops / 1e12:,.0f} TFLOP/s ({gpu.source})"},
        {"figure": f"days on {est.n_gpus:,} GPU{'' if est.n_gpus == 1 else 's'}", "value": f"{est.days:,.2f}", "how": "GPU-hours / GPUs / 24"},
        {"figure": "cost", "value": f"${est.cost:,.0f}", "how": f"GPU-hours x ${est.price_per_gpu_hour:.2f} (the default is {price_note(assumed_price)}; set your own)"},
    ]
    return rows


def llama_check_rows(check: costs.Llama2Check, assumed_price: float) -> list[dict]:
    """Llama 2 70B: the calculator against the paper and the talk; the cost is not checked (no published cost exists)."""
    params, tokens = value("llama2_70b_params"), value("llama2_tokens")
    gpus, days = int(value("talk_gpus")), value("talk_days")
    talk = f"{cite('karpathy2023')} (talk)"
    paper = f"{cite('touvron2023')}, Table 1 (tokens) and Table 2 (A100-80GB GPU-hours)"
    return [
        {"figure": "training compute", "calculator": f"{check.flops:.2e} FLOPs (6 x {params:.0e} parameters x {tokens:.0e} tokens)",
         "published": f"not stated; its {tokens / 1e12:.1f}T training tokens are", "source": paper},
        {"figure": "A100 GPU-hours", "calculator": f"{check.talk_gpu_hours:,.0f} from the talk's {gpus:,} GPUs x {days:g} days, "
                                                   f"{signed_percent(check.talk_gpu_hours / check.paper_gpu_hours - 1, 1)} from the paper",
         "published": f"{check.paper_gpu_hours:,.0f}", "source": paper},
        {"figure": "implied utilisation", "calculator": f"{100 * check.utilisation_paper:.1f}% of {costs.GPUS['A100'].peak_flops / 1e12:.0f} TFLOP/s "
                                                        f"(paper's hours), {100 * check.utilisation_talk:.1f}% (talk's)",
         "published": "not stated", "source": "computed: 6ND / (GPU-hours x peak)"},
        {"figure": f"time on {gpus:,} GPUs", "calculator": f"{check.days_on_talk_gpus:.1f} days", "published": f"about {days:g} days", "source": talk},
        {"figure": "cost", "calculator": f"not checked: Meta published GPU-hours, not a cost; {price_note(assumed_price)} (the calculator's default)",
         "published": f"about ${value('talk_cost') / 1e6:.0f}M", "source": talk},
        {"figure": "weights file", "calculator": f"{human_bytes(costs.weights_bytes(params, 'bf16'))} (bf16: 2 bytes per parameter)",
         "published": human_bytes(value("talk_weights_bytes")), "source": talk},
    ]
