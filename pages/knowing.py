"""Knowing and not knowing: hallucination measured as confidence without knowledge, and RAG that fixes it."""

import threading

import streamlit as st

from lab_ui import course, knowing_live, palette, predict, state, url_state
from lab_ui import knowing_figures as fig
from lab_ui import knowing_view as view
from lab_ui.shell import ensure_app_shell
from lab_ui.widgets import text_block
from llm_core.literature import cite, references
from llm_core.retrieval.calibration import answer_with_confidence
from llm_core.retrieval.chapter import MIN_CONFIDENCE, MIN_SCORE, abstention_summary, added_fact_rows, added_facts, added_title, closed_book_summary, compare_books, lineage, load_shipped, open_book
from llm_core.retrieval.prompt import DocumentError, assemble, clean_document, read_upload
from llm_core.retrieval.readers import READER_MAX_TOKENS, closed_book_rows, open_book_rows, spoken
from llm_core.retrieval.shipped_answers import chapter_facts, shipped_closed_rows
from llm_core.retrieval.store import Store
from llm_core.retrieval.world import ATTRIBUTE_NAMES, NEW_KIND_NAMES, Fact, make_world, new_fact_sentence
from llm_core.text.tokenizers import TokenizerError

ensure_app_shell()
KINDS, GREEN, RED = knowing_live.KINDS, palette.GREEN, palette.VERMILLION


@st.cache_resource(show_spinner="Making the world and loading the chapter's models…")
def shipped():
    models = {kind: load_shipped(kind, state.device()) for kind in KINDS}
    return make_world(0), models, lineage(models["reader"])


@st.cache_resource(show_spinner=False, max_entries=64)
def server_memo(key):  # a result for the shipped models, shared by every session, and its lock
    return {"lock": threading.Lock()}


def memo(key: tuple, compute, shared: bool):
    """The value of compute() for this key: once per server for the shipped models (sessions that
    ask while it is being computed wait for it: a class opening the chapter at once pays for one
    measurement, not one each), once per session for its own models."""
    if not shared:
        box = st.session_state.setdefault("kn_memo", {})
        if key not in box:
            with st.spinner("Measuring on the current models…"):
                box[key] = compute()
        return box[key]
    box = server_memo(key)
    with box["lock"]:
        if "value" not in box:
            with st.spinner("Measuring on the current models…"):
                box["value"] = compute()
    return box["value"]


world, bundled, lin = shipped()
chosen = st.session_state.setdefault("kn_models", {})  # kind -> (name, model, tokenizer) from a live fine-tune
models = {k: chosen.get(k) or (f"shipped {k} model", bundled[k].model, bundled[k].tokenizer) for k in KINDS}
(cb_name, closed, closed_tok), (rd_name, reader, reader_tok), shared = models["closed-book"], models["reader"], not chosen

course.chapter_intro("knowing")
st.markdown("Below, a small model answers questions about invented people: some it read about in training, some never. "
            "First guess what it does with the ones it never saw; then give it documents to read.")
with st.expander("The details: what the research says"):
    st.markdown(
        "A model asked about something it never saw can still produce a well-formed answer: a **hallucination** (how sure it is of such answers is measured below). "
        f"{cite('kalai2024')} (*Calibrated language models must hallucinate*) prove that a model whose confidence is calibrated hallucinates on arbitrary facts at least "
        "about as often as the share of such facts that appeared exactly once in its training data, less its miscalibration: facts seen once are where its knowledge "
        f"thins out into guessing. **Retrieval-augmented generation** (RAG, {cite('lewis2020')}) puts documents fetched at question time into the prompt, so the model "
        "can answer from them instead. Both are measured here, on small models, in a world no pre-trained model can know: facts seen 1 to 16 times, and facts never seen at all.")

# ---------------------------------------------------------------- 1. the world
st.header("1 · A world of invented facts")
f0 = world.unknown_facts()[0]
st.markdown(
    f"Code with a fixed seed invents **{len(world.known) + len(world.unknown)} people** with three facts each (birthplace, "
    f"trade, horse). The closed-book model was fine-tuned on the {len(world.known)} **known** people's questions, each fact "
    f"repeated 1, 2, 4, 8 or 16 times; the {len(world.unknown)} **unknown** people are in no training data, only in the "
    "encyclopedia below. The reader was trained on other, practice people, to answer from a context."
    + f" The shipped reader: {lin['sentence']}"
)
text_block(f"{f0.question}\n\nEncyclopedia entry of {f0.person}:\n{world.document(f0.person)}")

# ---------------------------------------------------------------- 2. closed book
st.header("2 · Closed book: questions about people it never read about")
# The shipped model's answers were measured once by the command that ships them (llm_core/retrieval/shipped_answers.py);
# a model the learner fine-tuned is measured here.
rows = memo(("closed", cb_name), lambda: (shared and shipped_closed_rows(closed, closed_tok, world, chapter_facts(world)))
            or closed_book_rows(closed, closed_tok, world, chapter_facts(world)), shared)
n_unknown = sum(r.seen == 0 for r in rows)
predict.checkpoint("knowing_unknown_confident", f"The closed-book model is asked {n_unknown} questions about the {len(world.unknown)} people it never saw. "
                   "Will it say it does not know, or answer anyway, and how sure?",
                   predict.choice(view.CONFIDENT_CHOICES, horizontal=False), lambda guess: view.unknown_reveal(guess, rows, world))
if predict.made("knowing_unknown_confident"):
    view.closed_book_results(rows, closed_book_summary(rows), cb_name)
else:
    st.caption("The measurements of its confidence appear once your guess is locked in.")

# ---------------------------------------------------------------- 3. open book
st.header("3 · Open book: retrieve, then read")
docs, added = st.session_state.setdefault("kn_docs", {}), st.session_state.setdefault("kn_added", {})  # title -> text (documents, added facts); title -> Fact
a1, a2, a3 = st.columns([3, 1, 1])
question = url_state.text_box(a1.text_input, "Question", "kn_question", f0.question, max_chars=200)
chunk_size = a2.slider("Chunk size (characters)", 20, 400, 60, 10, key="kn_chunk", bind="query-params")
k = a3.slider("Chunks retrieved (k)", 1, 5, 3, key="kn_k", bind="query-params")
t1, t2 = st.columns(2)
min_score = t1.slider("Read only chunks with a BM25 score of at least", 0.0, 5.0, MIN_SCORE, 0.25, key="kn_min_score", bind="query-params",
                      help="A chunk that shares only a common word with the question (born, horse) scores low; one that names the person scores high.")
min_conf = t2.slider("Answer only at a confidence of at least", 0.0, 1.0, MIN_CONFIDENCE, 0.05, key="kn_min_conf", bind="query-params")
store = memo(("store", chunk_size, tuple(docs.items())), lambda: Store({**dict(reversed(docs.items())), **world.documents()}, chunk_size), not docs)
st.caption(f"The store holds {len(store):,} chunks from {len(world.documents()) + len(docs)} documents ({len(docs)} added by you). BM25 ranks them with the "
           f"`bm25s` library ({cite('robertson2009')}); only chunks scoring at least {min_score:g} are given to the reader.")
try:
    if not question.strip():
        raise ValueError("The question is empty: type one in the box above.")
    ob = open_book(reader, reader_tok, store, question, k, min_score, min_conf)
    st.markdown(fig.hits_html(ob.hits, min_score) if ob.hits else "No chunk shares a word with this question.", unsafe_allow_html=True)
    if ob.prompt is not None:
        st.markdown("The prompt exactly as the reader reads it (chat tokens included):")
        text_block(ob.prompt.chat())
        for note in ob.prompt.notes:
            st.text(f"Note: {note}.")  # may quote characters from a user document
    else:
        st.markdown("Nothing is given to the reader:")
        text_block(f"(no prompt: {ob.abstained})")
    b1, b2 = st.columns(2)
    if predict.made("knowing_unknown_confident"):
        cb = answer_with_confidence(closed, closed_tok, clean_document(question, closed_tok).text)
        b1.markdown(fig.answer_card(f"Closed book ({cb_name})", cb.text, cb.confidence, "from its weights alone", palette.MUTED), unsafe_allow_html=True)
    else:  # its answer to a stranger would give away section 2's prediction
        b1.caption(f"Closed book ({cb_name}): its answer shows here once your guess in section 2 is locked in.")
    b2.markdown(fig.open_book_card(f"Open book ({rd_name})", ob, GREEN, RED), unsafe_allow_html=True)
except (DocumentError, TokenizerError, ValueError) as exc:
    st.warning("This question cannot be asked:")
    st.text(str(exc))  # it may quote the user's text: never rendered as Markdown

NEW_PERSON = "Merra Vantis"  # in no document and no training set
VALUES = {a: world.values(a) for a in ATTRIBUTE_NAMES}
KIND_LABELS = {a: a for a in ATTRIBUTE_NAMES} | {a: f"{a} (a kind no model here was trained on)" for a in NEW_KIND_NAMES}


def add_fact():
    person, value = st.session_state.kn_person.strip(), st.session_state.kn_value.strip()
    unreadable = reader_tok.unknown_chars(person) if reader_tok.kind == "char" else []
    if not person or not value:
        st.session_state.kn_fact_note = ("warning", "Not added: give both a person and a value.")
    elif unreadable:  # removed from the question before the reader reads it: it could never match the fact
        st.session_state.kn_fact_note = ("warning", f"Not added: the reader has no token for {''.join(unreadable[:12])!r} in the person's name. "
                                         "Use letters it knows (plain Latin letters, as in the world's names).")
    else:
        fact = Fact(person, st.session_state.kn_attribute, value)
        docs.pop(added_title(fact), None)
        docs[added_title(fact)] = new_fact_sentence(fact.person, fact.attribute, fact.value)
        added[added_title(fact)] = fact
        st.session_state.kn_question = fact.question
        if not any(value in names for names in VALUES.values()):
            st.session_state.kn_fact_note = ("info", f"Added, but {value!r} is not one of the reader's town, trade or horse names: "
                                             "it can copy only those, so expect it to say it does not know, or to answer with another name.")


with st.form("kn_add_fact"):
    st.markdown("**Add a fact to the store** (indexed at once; no model is retrained). Then the question above asks about it.")
    f1, f2, f3 = st.columns(3)
    f1.text_input("Person", NEW_PERSON, max_chars=60, key="kn_person")
    f2.selectbox("Fact", list(KIND_LABELS), format_func=KIND_LABELS.get, key="kn_attribute")
    f3.text_input("Value", VALUES["town"][0], max_chars=40, key="kn_value")
    st.form_submit_button("Add fact", on_click=add_fact)
if "kn_fact_note" in st.session_state:
    kind, note = st.session_state.pop("kn_fact_note")
    (st.warning if kind == "warning" else st.info)("About the fact you added:" if kind == "info" else "The fact was not added:")
    st.text(note)  # it quotes the learner's words: never rendered as Markdown
    st.caption(f"The reader's tokenizer has one token for each of the world's {sum(map(len, VALUES.values()))} town, trade and horse names "
               "(for example " + ", ".join(v[0] for v in VALUES.values()) + "): it reads one out by copying that token, so a value must be one of them "
               "(where someone lives is a town, a dog's name a horse's, a father's work a trade). A word outside them it cannot spell out.")
with st.expander("Paste or upload a document"):
    pasted = st.text_area("Text", max_chars=200_000, key="kn_paste")
    upload = st.file_uploader("or a .txt / .md file (up to 1 MB)", key="kn_upload")
    if st.button("Add to the store", key="kn_add_doc"):
        # The file and the pasted text are both added (either may be empty); the same text twice is added once.
        given = ([(upload.name, upload.getvalue())] if upload else []) + ([("the pasted text", pasted.encode())] if pasted.strip() or not upload else [])
        notes = st.session_state["kn_doc_notes"] = []
        for name, data in given:
            try:
                text = read_upload(data, name)
            except DocumentError as exc:
                notes.append(f"Not added: {exc}")
                continue
            if text in docs.values():
                notes.append(f"Not added: {name} is already in the store.")
                continue
            docs[f"yours: {name if upload and name == upload.name else 'pasted'} #{len(docs) + 1}"] = text
            notes.append(f"Added {name}: {len(text):,} characters.")
        st.rerun()
    for note in st.session_state.pop("kn_doc_notes", []):
        (st.warning if note.startswith("Not") else st.success)("This document was not added:" if note.startswith("Not") else "Added to the store:")
        st.text(note)  # it may quote the user's file name: never rendered as Markdown
if docs:
    st.caption("Your documents (shown as plain text):")
    for title, text in docs.items():
        st.text(f"{title}: {text[:300]}{' …' if len(text) > 300 else ''}")
    st.button("Remove your documents", key="kn_clear_docs", on_click=lambda: (docs.clear(), added.clear()))

# ---------------------------------------------------------------- 4. faithfulness
st.header("4 · Faithful is not the same as true")
wrong_value = next(v for v in VALUES[f0.attribute] if v != f0.value)
lie = new_fact_sentence(f0.person, f0.attribute, wrong_value)
lied = answer_with_confidence(reader, reader_tok, assemble(f0.question, [lie], reader_tok, reader.config.block_size).text, READER_MAX_TOKENS)
copied = spoken(lied.text) == wrong_value
d1, d2 = st.columns(2)
text_block(f"Context given: {lie}\nThe encyclopedia says: {f0.sentence}", where=d1)
d2.markdown(fig.answer_card("Reader given only the wrong document", lied.text, lied.confidence, "copied the wrong document" if copied else f"true answer {f0.value}", RED), unsafe_allow_html=True)
st.markdown(
    f"Given only this wrong document, the reader answers **{spoken(lied.text) or '(nothing)'}** with {lied.confidence:.0%} confidence"
    + (": it copied the document, faithfully and wrongly. A reader is only as true as what it retrieves." if copied
       else f" (the document says {wrong_value}; the true answer is {f0.value}).")
)

# ---------------------------------------------------------------- 5. measured comparison
st.header("5 · Measured on every unknown person")
unknown_facts = world.unknown_facts()


def compare():  # closed against open book on every unknown person, measured once the learner has guessed
    return memo(("compare", cb_name, rd_name, chunk_size, k, min_score, tuple(docs.items())), lambda: compare_books(
        closed, closed_tok, reader, reader_tok, world, store, k, closed_rows=[r for r in rows if r.seen == 0], min_score=min_score), shared)


predict.checkpoint("knowing_open_book", f"Now the reader gets the top {k} chunks the search finds for each question in its prompt. Of the {len(unknown_facts)} questions "
                   "about people no model here was trained on, how many will it get right?",
                   predict.slider("How many it gets right", 0, len(unknown_facts), len(unknown_facts) // 2, 1), lambda guess: view.open_book_reveal(guess, compare(), k))
cmp = compare() if predict.made("knowing_open_book") else None
if cmp is not None:
    view.compare_results(cmp.figures, k)
else:
    st.caption("The closed and open book measured side by side appear once your guess is locked in.")
trial = added_facts(world, 8, NEW_KIND_NAMES)  # 8 people in no document, one fact of each kind no model trained on
# How many added facts the reader gets right is a hint at the open-book question just above: measured once it is locked.
gated, ungated, absent = ([], [], []) if cmp is None else memo(("added", rd_name, chunk_size, k, min_score, tuple(docs.items())), lambda: (
    added_fact_rows(reader, reader_tok, world, trial, k, chunk_size, min_score=min_score), added_fact_rows(reader, reader_tok, world, trial, k, chunk_size),
    open_book_rows(reader, reader_tok, world, store, trial, k, min_score=min_score)), shared)
if cmp is None:
    st.caption("What the reader does with facts added to the store appears once your guess above is locked in.")
else:
    ab = abstention_summary(absent, min_conf)
    st.markdown(
        f"**Facts added to the store.** {len(trial)} facts about {len(trial) // len(NEW_KIND_NAMES)} people in no document, of kinds no model here was trained on "
        f"({', '.join(NEW_KIND_NAMES)}), each added alone as the form below the question does: the reader answers **{sum(r.correct for r in gated)} of {len(gated)}** right "
        f"reading only chunks that score at least {min_score:g}, and {sum(r.correct for r in ungated)} of {len(ungated)} when it reads every one of the top {k} "
        "(then other people's facts of the same kind, which share the question's words, sit beside the right one). Asked the same questions before the facts are added, "
        f"it withholds {ab['no_chunk'] + ab['low_confidence']} of {ab['n']} answers ({ab['no_chunk']} with no chunk scoring enough, {ab['low_confidence']} below "
        f"{min_conf:.0%} confidence) and answers " + (f"{ab['answered']}, {ab['right']} of them right." if ab["answered"] else "none.")
    )
facts = [f for title, f in added.items() if title in docs]
if facts:
    cb_right = sum(answer_with_confidence(closed, closed_tok, clean_document(f.question, closed_tok).text).text.strip() == f.value for f in facts)
    ob_rows = open_book_rows(reader, reader_tok, world, store, facts, k, min_score=min_score)
    st.markdown(f"Of the {len(facts)} fact(s) you added, the open-book reader now answers {sum(r.correct for r in ob_rows)} right, straight from the store; "
                f"the closed-book model answers {cb_right} right: it still answers from the weights it had when training ended. "
                "Its knowledge is frozen at training time.")
with st.expander("Dense retrieval with the reader's own hidden states vs BM25"):
    if st.button("Measure recall with hidden-state vectors", key="kn_dense"):
        from llm_core.retrieval.store import DenseIndex, recall_at_k

        dense = DenseIndex(reader, reader_tok, store)
        r_dense = recall_at_k(dense.search, world.unknown_facts(), k)
        r_bm25 = recall_at_k(store.search, world.unknown_facts(), k)
        st.markdown("Each chunk and the question become one vector: the average of the vectors the reader computes inside itself for their tokens "
                    "(its *hidden states*); the chunks whose vectors point most nearly the same way as the question's are retrieved. "
                    f"Recall@{k} (how often the right chunk is among the {k} retrieved): BM25 {r_bm25:.0%}, the reader's vectors {r_dense:.0%}"
                    + (": this tiny model's vectors retrieve worse than word matching." if r_dense < r_bm25 else "."))

# ---------------------------------------------------------------- 6. live fine-tuning
st.header("6 · Fine-tune your own, from the current model")
knowing_live.section(world, chosen)
st.divider()
st.caption("Sources: " + references(["kalai2024", "lewis2020", "robertson2009", "guo2017"]) + ".")

course.chapter_end("knowing")
