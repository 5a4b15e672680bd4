"""Embeddings: the model's token and position tables, projected, compared with an untrained twin."""

import streamlit as st

from lab_ui import charts, course, predict, state, url_state
from lab_ui import embedding_view as ev
from lab_ui.chips import literal
from lab_ui.shell import ensure_app_shell
from lab_ui.text_chapters import untrained_twin
from llm_core import literature
from llm_core.interpret import embeddings as emb
from llm_core.text.tokenizers import visible_whitespace
from llm_core.text.tokenview import display_piece, tokenize_row

ensure_app_shell()  # a deep link to this page on a fresh server must still get app.py's shell

MAX_LOOKUP = 6  # distinct tokens looked up at once
MAX_LOOKUP_CHARS = 10_000  # longer look-up text is cut (the first tokens are what is shown anyway)
MAX_POSITIONS = 256  # rows of a position heatmap; longer contexts are shown every k-th position
LEARNED_TWIN = "shakespeare-tiny-learned-pos"

entry = state.current()
model, tokenizer = entry.model, entry.tokenizer
cfg = model.config


def label(token_id: int) -> str:
    return visible_whitespace(display_piece(tokenizer.token_text(token_id))) or "∅"


course.chapter_intro("embeddings")
st.markdown(
    "**On this page:** 1. [Predict first](#predict-first) · 2. [The token table](#token-embeddings) · "
    "3. [Position embeddings](#position-embeddings)"
)
st.markdown(
    f"The model's first layer is a table with one row per token id: **{cfg.vocab_size:,} rows of {cfg.n_embd} numbers** "
    f"for *{entry.name}*. Reading a token means looking up its row. Training moves these rows so that tokens the "
    f"model should treat alike end up pointing in similar directions. To look at {cfg.n_embd}-dimensional vectors we project "
    "them onto the 2 or 3 directions along which they differ most (PCA: principal component analysis). Beside it, the "
    "**same view for an untrained twin**: a model of the same shape, freshly initialised, before any training."
)

n_known = min(tokenizer.vocab_size, cfg.vocab_size)  # a model may have more rows than its tokenizer has ids
kinds = emb.token_kinds(tokenizer)[:n_known] + ["other"] * (cfg.vocab_size - n_known)
labels = [label(i) for i in range(n_known)] + [f"<unused id {i}>" for i in range(n_known, cfg.vocab_size)]


train_seed = ev.training_seed(entry.record)


def starting_values(which_model, record: dict, table_of):
    return ev.starting_values(which_model, record, table_of, untrained_twin)


start, change = starting_values(model, entry.record, emb.token_table)
st.header("1 · Predict first", anchor="predict-first")
ev.predictions(model, entry.record, tokenizer, labels, kinds, start, change, emb.token_table(untrained_twin(cfg, 0)))

st.header("2 · The token table", anchor="token-embeddings")
controls = st.columns([1, 1, 2])
dims = controls[0].radio("Projection", ["2-D", "3-D"], horizontal=True, key="emb_dims", bind="query-params")
seed = controls[1].number_input("Seed of the untrained twin", 0, 1_000_000, 0, step=1, key="emb_seed", bind="query-params")
lookup = url_state.text_box(
    controls[2].text_input, "Tokens to look up (type a character, a word or a sentence)", "emb_lookup", "e",
    help="The text is tokenized with the current model's tokenizer; its first distinct tokens are highlighted.",
)

twin = untrained_twin(cfg, seed)

# --- which tokens the user asked about ---
selected: list[int] = []
if not lookup:
    st.info("Type a character or some text above to highlight its tokens and list their nearest neighbours.")
else:
    text = lookup[:MAX_LOOKUP_CHARS]
    if len(lookup) > MAX_LOOKUP_CHARS:
        st.caption(f"Only the first {MAX_LOOKUP_CHARS:,} of {len(lookup):,} characters are looked up.")
    row = tokenize_row(tokenizer, text)
    distinct = list(dict.fromkeys(i for i in row.ids if i < cfg.vocab_size))
    selected = distinct[:MAX_LOOKUP]
    if row.unknown:
        shown = ", ".join(literal(repr(c)) for c in row.unknown[:10]) + (" …" if len(row.unknown) > 10 else "")
        st.warning(
            f"This model's tokenizer has never seen {shown}: there is no row in the embedding table for "
            f"{'it' if len(row.unknown) == 1 else 'them'}, so the model cannot represent "
            f"{'it' if len(row.unknown) == 1 else 'them'} at all. A character-level model only knows the "
            f"{len(getattr(tokenizer, 'chars', [])) or cfg.vocab_size} characters of its training text."
        )
    if not selected:
        st.info("None of that text maps to a token of this model, so there is nothing to highlight.")
    elif len(distinct) > MAX_LOOKUP:
        st.caption(f"The text has {len(distinct):,} distinct tokens; the first {MAX_LOOKUP} are shown.")


def scatter(table, title: str, key: str) -> None:
    ev.scatter_chart(table, title, dims == "3-D", labels, kinds, selected, key)


views = ["Input table, as it is", "Input table: what training changed"]
if model.head is not None:
    views.append("Output table (the model's last layer)")  # not "the head": the page defines that word as an attention head
view = st.radio("Table", views, horizontal=True, key="emb_view", bind="query-params")
if view == views[0]:
    panels = [(emb.token_table(model), f"Trained: {entry.name}", "trained model"),
              (emb.token_table(twin), f"Untrained twin (seed {seed})", "untrained twin")]
    st.markdown(
        f"Each row starts as random numbers (mean 0, standard deviation {float(emb.token_table(twin).std()):.2f}) and "
        "training nudges it. "
        + (ev.moved_sentence(emb.relative_change(change, start), "row") if change is not None and predict.made("embeddings_moved") else "")
    )
elif view == views[1]:
    vowel = ev.vowel_of(tokenizer)
    if change is None:
        panels = []
        st.info(
            "This model's starting values cannot be rebuilt (its record has no training seed that reproduces them, "
            "e.g. it was uploaded or built another way), so its change cannot be shown. Pick another view."
        )
    elif missing := ev.waiting_for(tokenizer):
        # Its scatter, its caption ("they form groups"), its axes beside the start's and its neighbours answer
        # both of section 1's questions: the whole view waits until both guesses are locked.
        panels = []
        st.info(ev.changed_view_waits(missing, vowel[0] if vowel else None), icon=":material/lock:")
    else:
        panels = [(change, f"What training changed: trained − start ({entry.name})", "change made by training"),
                  (start, f"Before training: its starting values (seed {train_seed})", "starting values")]
        st.markdown(
            f"Left: the trained table minus the table it started from, rebuilt from the training seed ({train_seed}). "
            "This is everything the model learned about each token's input. Right: the starting values, pure noise."
        )
elif (vowel := ev.vowel_of(tokenizer)) is not None and predict.made("embeddings_vowel_neighbour") is None:
    # Learned from scratch, the output table groups the vowels too (its scatter puts a e i o u in one corner, its
    # caption says "they form groups", 'e' -> a, i, o): section 1's vowel question, answered. It waits for that guess.
    panels = []
    st.info(ev.changed_view_waits(["embeddings_vowel_neighbour"], vowel[0]).replace("what training changed shows here", "the output table shows here"),
            icon=":material/lock:")
else:
    twin_head = emb.output_table(twin)
    zeros = bool(twin_head.abs().max() == 0)
    panels = [(emb.output_table(model), f"Trained: output table of {entry.name}", "trained output table"),
              (twin_head, f"Untrained twin (seed {seed})" + (": all zeros" if zeros else ""), "untrained output table")]
    st.markdown(
        "The **output table** (the model's last layer) turns the model's last vector into a score for every possible next token: "
        "row *i* is compared with that vector to score token *i*. "
        + ("In the untrained twin it is all zeros, so an untrained model gives every token the same probability: everything in it was learned."
           if zeros else f"In the untrained twin its rows have a standard deviation of {float(twin_head.std()):.3f}.")
    )

if panels:
    left, right = st.columns(2)
    with left:
        scatter(panels[0][0], panels[0][1], "emb_scatter_trained")
    with right:
        if panels[1][0].abs().max() == 0:
            st.info("Before training the output table is **all zeros**: every token sits at the same point, no token is "
                    "preferred and none is like any other. There is nothing to project.")
        else:
            scatter(panels[1][0], panels[1][1], "emb_scatter_untrained")
    st.caption(
        "Colours and marker shapes are the kind of token, not something the model was told: if a kind forms a cluster, the "
        "model learned on its own that those tokens behave alike. Random rows do not cluster."
    )

    st.subheader("Nearest neighbours (cosine similarity)")
    st.markdown(
        "Cosine similarity compares the *direction* of two rows: 1 means the same direction, 0 unrelated, −1 opposite. "
        "The tokens whose rows point most like the looked-up token's, in the table shown above:"
    )
    if selected:
        k = st.slider("Neighbours per token", 1, min(20, cfg.vocab_size - 1), min(6, cfg.vocab_size - 1), key="emb_neighbours", bind="query-params")

        def neighbours_text(table, token_id: int) -> str:
            if table[token_id].abs().max() == 0:
                return "— (a zero row: no direction)"
            return "\u2003".join(  # an em space between neighbours (an HTML table collapses runs of plain spaces); a
                f"{labels[j]}\u00a0({s:+.2f})" for j, s in emb.nearest_neighbours(table, token_id, k))  # no-break space keeps each score with its token on a phone

        st.html(charts.data_table_html(
            [{"token": labels[i], "id": i, "kind": kinds[i], f"nearest: {panels[0][2]}": neighbours_text(panels[0][0], i),
              f"nearest: {panels[1][2]}": neighbours_text(panels[1][0], i)} for i in selected]))
        mean_cos = [emb.mean_abs_cosine(t) for t, _, _ in panels]
        st.caption(
            f"Average |cosine| between two different tokens: {panels[0][2]} {mean_cos[0]:.2f}, {panels[1][2]} {mean_cos[1]:.2f}. "
            "Random vectors in many dimensions are nearly orthogonal (close to 0)."
        )
    else:
        st.caption("Look up a token above to list its neighbours.")

# --- position embeddings ---
st.header("3 · Position embeddings", anchor="position-embeddings")
if model.wpe is None:
    learned = state.bundled(LEARNED_TWIN)
    pos_model, pos_record = learned.model, learned.record
    pos_name = "the bundled learned-position twin (shakespeare-tiny-learned-pos)"
    st.info(
        f"*{entry.name}* uses **rotary positions (RoPE, {literature.cite('su2021')})**: it has no position table. Instead, "
        "inside every attention layer (the step, in the next chapter, where each token looks back at the earlier ones), "
        "it turns the numbers of each token by an angle that grows with the token's position. How much one token takes "
        "from another then depends on how far apart the two are, not on where they stand in the text. There is nothing "
        "to plot as a table. "
        f"So that this section still shows something real, the charts below are from **{pos_name}**: the same "
        "shape, trained on the same text, but with a learned table of one vector per position that is added to the "
        "token's vector before the first layer."
    )
    with st.expander("How the turning works (the Attention chapter explains queries and keys)"):
        st.markdown(
            "In attention each token makes two vectors from its own: a **query** (what it is looking for) and a **key** "
            "(what it offers to the tokens that look at it), and a token's query is compared with the keys of the earlier "
            "tokens. With rotary positions each query and key is *rotated* by an angle proportional to its token's position, "
            "its numbers taken two at a time, each pair turning at its own speed. Rotating both by their positions "
            "leaves their comparison depending only on the difference of the two angles: how far apart the tokens are."
        )
else:
    pos_model, pos_record, pos_name = model, entry.record, f"the current model ({entry.name})"
    st.markdown(
        f"*{entry.name}* learns **one vector per position** (0 to {cfg.block_size - 1}) and adds it to each token's "
        "vector, so the same token at two positions looks different to the first layer."
    )

pos_views = ["Position table, as it is", "What training changed"]
pos_view = st.radio("Position table", pos_views, horizontal=True, key="emb_pos_view", bind="query-params")
pos_start, pos_change = starting_values(pos_model, pos_record, emb.position_table)
# The change beside the starting values shows how far training moved each position's vector (its colour scale
# beside theirs): close to section 1's first question, so it waits for that guess, as the moved sentence below does.
pos_waits = pos_view != pos_views[0] and pos_change is not None and predict.made("embeddings_moved") is None
if pos_view == pos_views[0] or pos_change is None or pos_waits:
    if pos_waits:
        st.info("What training changed in the position table shows how far training moved each position's vector, close to "
                "[section 1](#predict-first)'s first question: lock in your guess there first. Until then the table is shown as it is.",
                icon=":material/lock:")
    elif pos_view != pos_views[0]:
        st.info("This model's starting values cannot be rebuilt (no training seed that reproduces them), so the table is shown as it is.")
    pos_twin = untrained_twin(pos_model.config, seed)
    pos_panels = [(emb.position_table(pos_model), "Trained"), (emb.position_table(pos_twin), f"Untrained twin (seed {seed})")]
    st.markdown(
        f"Left: **{pos_name}**, trained. Right: an untrained twin. Top: the table itself, one row per position. "
        "Bottom: how similar (cosine) each position's vector is to every other's. "
        + (ev.moved_sentence(emb.relative_change(pos_change, pos_start), "position's vector")
           if pos_change is not None and predict.made("embeddings_moved") else "")  # after the guess: it would hint at section 1's answer
    )
else:
    pos_panels = [(pos_change, "What training changed (trained − start)"), (pos_start, f"Before training (seed {ev.training_seed(pos_record)})")]
    st.markdown(
        f"Left: what training changed in the position table of **{pos_name}** (trained minus the starting values, rebuilt "
        "from its training seed). Right: the starting values. " + ev.distance_sentence(pos_change, pos_start)
    )
n_positions = pos_panels[0][0].shape[0]
stride = -(-n_positions // MAX_POSITIONS)  # ceil: keep heatmaps at most MAX_POSITIONS rows
positions = list(range(0, n_positions, stride))
if stride > 1:
    st.caption(f"The context has {n_positions:,} positions; one position in {stride} is drawn.")
left, right = st.columns(2)
for column, (table, title), which in ((left, pos_panels[0], "trained"), (right, pos_panels[1], "untrained")):
    with column:
        ev.heatmap_charts(table[::stride], positions, title, which, tuple(table.shape))

course.chapter_end("embeddings")
