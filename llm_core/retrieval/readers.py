"""The two models of the chapter, fine-tuned through the existing SFT path, and their measurements.

What it is: a closed-book model, fine-tuned on the known people's question/answer pairs (each fact
repeated as often as the world says it was seen), answers from its weights alone; a reader,
fine-tuned on practice people's questions with a context of chunks (the one that states the
answer among distractors, shuffled), learns to answer from the context (Lewis et al. 2020, RAG).
What it learns is to find the sentence that answers the question and read out its value. The
reader's tokenizer gives each of the world's town, trade and horse names (with its space and full
stop, " Quillmar.") one token, as a GPT tokenizer has tokens for common words: reading out a value
is then copying one token from the context.
Copying has to be learned first: started from the Shakespeare model, 300-400 reader steps left
the reader at the guess rate (0-7% exact match), and so did a fresh model on the reader format
alone (its loss stayed at the guess rate for 800-1,100 steps). What worked (measured, README): a
fresh small model, first trained on one-chunk contexts mixed with warm-ups whose prompt is the
answer sentence alone (`sentence_share`: the value sits two tokens before the answer, so a copy
is found by position, then by what the token is), then on the full reader format.
Neither ever sees an unknown person. Both use `alignment.finetune` (chat format, vocabulary
extension, response-only loss) and the one training loop; `FineTune` wraps a run as a background
`Job` like the assistant's stages. `closed_book_rows` and `open_book_rows` answer a list of facts
and score each answer (exact match, confidence, first-token entropy).
What it is not: retrieval (`store.py`) or the prompt layout (`prompt.py`).
"""

from __future__ import annotations

import copy
import random
import string
import threading
import time
from dataclasses import dataclass

import torch

from llm_core.alignment.finetune import ChatBatches, extend_vocabulary
from llm_core.alignment.tasks import Example
from llm_core.jobs import Job, JobGate
from llm_core.model import lineage
from llm_core.model.checkpoint import describe_checkpoint
from llm_core.model.config import TrainConfig
from llm_core.model.gpt import GPT
from llm_core.retrieval.calibration import ScoredAnswer, answer_with_confidence
from llm_core.retrieval.prompt import INSTRUCTION, assemble
from llm_core.retrieval.store import Store
from llm_core.retrieval.world import ATTRIBUTE_NAMES, World, answer_value
from llm_core.text.tokenizers import Tokenizer
from llm_core.training.loop import Metrics, TrainState, train
from llm_core.training.training_run import TrainedModel
from llm_core.workers.stages import stage_job

READER_CONTEXT = 400  # tokens: instruction + two whole entries (or five one-sentence chunks) + question + the answer fit
READABLE = string.ascii_letters + string.digits + string.punctuation + " \n"  # what a reader can read in a user's document
KINDS = ("closed-book", "reader")
READER_MAX_TOKENS = 24


def closed_book_config(**overrides) -> TrainConfig:
    return TrainConfig.merged(dict(max_steps=160, batch_size=32, lr=2e-3, muon_lr=0.01, warmup_steps=20, eval_every=80, log_every=10), **overrides)


def reader_config(**overrides) -> TrainConfig:
    return TrainConfig.merged(dict(max_steps=400, batch_size=16, lr=4e-3, muon_lr=0.02, warmup_steps=20, eval_every=100, log_every=10), **overrides)


def live_config(kind: str, time_budget_s: float = 90.0, **overrides) -> TrainConfig:
    """A live run: the same recipe with a time budget, so it ends within budget plus a short evaluation."""
    make = closed_book_config if kind == "closed-book" else reader_config
    return make(time_budget_s=time_budget_s, eval_every=0, **overrides)


def value_token(value: str) -> str:
    """How a value appears at the end of an encyclopedia sentence, and the reader's token for it."""
    return f" {value}."


def world_values(world: World) -> list[str]:
    return sorted({f.value for f in world.facts if f.attribute in ATTRIBUTE_NAMES})


def spoken(answer: str) -> str:
    """The value a reader's answer states (" Quillmar." -> "Quillmar")."""
    return answer_value(answer.strip().rstrip(".").strip())


@torch.no_grad()
def with_value_tokens(model: GPT, tokenizer: Tokenizer, world: World, seed: int = 0) -> tuple[GPT, Tokenizer]:
    """A copy of model and tokenizer with one token per value of the world (new special ids at the end).

    A new token's embedding starts at the mean of its characters' embeddings (distinct per word)
    plus one direction shared by all values (so attention can find "a value" in the context), and
    its output row at its own embedding (so a value brought to the answer position by attention
    is the one predicted): a head start on copying, which the base model cannot do at all.
    """
    words = [value_token(v) for v in world_values(world) if value_token(v) not in tokenizer.special_tokens]
    new_tok = tokenizer.with_special_tokens(words)
    config = copy.deepcopy(model.config)
    config.vocab_size = new_tok.vocab_size
    new_model = GPT(config).to(model.device)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    wte = state["wte.weight"]
    if words:
        marker = torch.randn(wte.size(1), generator=torch.Generator().manual_seed(seed)).to(wte)
        marker = marker / marker.norm() * wte.norm(dim=1).mean()
        rows = torch.stack([wte[tokenizer.encode(w, allowed_special=False)].mean(0) for w in words]) + marker
        state["wte.weight"] = torch.cat([wte, rows])
        if "head.weight" in state:
            head = state["head.weight"]
            out_rows = rows / rows.norm(dim=1, keepdim=True) * head.norm(dim=1).mean()
            state["head.weight"] = torch.cat([head, out_rows])
    new_model.load_state_dict(state)
    return new_model, new_tok


def closed_book_examples(world: World) -> tuple[list[Example], list[Example]]:
    """(train, check): every known fact as often as it was seen; the check set is one copy of each."""
    train_set = [Example("fact", q, a) for q, a in world.closed_book_pairs()]
    check = [Example("fact", f.question, f.value) for f in world.known_facts()]
    return train_set, check


def reader_context(world: World, fact, rng: random.Random, k: int, same_kind_share: float = 0.0, entry_share: float = 0.0) -> list[str]:
    """The sentence stating `fact` among k-1 distractors, shuffled.

    Distractors are what BM25 retrieves beside the answer: the person's other facts (a question
    about someone in the encyclopedia), and, with probability `same_kind_share` per slot, another
    practice person's fact of the same kind (a question about someone with one fact in the store:
    "born" matches every birthplace). Those teach the reader to check whose fact it is, not only
    which kind; the rest are other people's facts of another kind. With probability `entry_share`
    the chunks are whole entries (what a larger chunk size retrieves), at most two of them.
    """
    if entry_share and rng.random() < entry_share:
        others = rng.sample([p for p in world.practice if p != fact.person], min(k, 2) - 1)
        chunks = [world.document(fact.person)] + [world.document(p) for p in others]
        rng.shuffle(chunks)
        return chunks
    own = [f.sentence for f in world.facts_of(fact.person) if f != fact]
    rng.shuffle(own)
    chunks = [fact.sentence]
    while len(chunks) < k:
        pick = rng.choice(world.practice_facts())
        if pick.person == fact.person:
            continue
        if rng.random() < same_kind_share:
            if pick.attribute != fact.attribute:
                pick = next((g for g in world.facts_of(pick.person) if g.attribute == fact.attribute), pick)
            chunks.append(pick.sentence)
        elif own:
            chunks.append(own.pop())
        elif pick.attribute != fact.attribute:
            chunks.append(pick.sentence)
    rng.shuffle(chunks)
    return chunks


def reader_examples(
    world: World, n: int = 6000, seed: int = 0, chunks=(1, 2, 3, 3, 4), sentence_share: float = 0.0,
    same_kind_share: float = 0.0, entry_share: float = 0.0,
) -> tuple[list[Example], list[Example]]:
    """(train, check) reader examples about practice people only, with 1 to 4 chunks of context.

    A `sentence_share` of the training examples are warm-ups: the prompt is the answer sentence
    alone, so the value to read out sits two tokens before the answer. They teach the copy itself
    (a value token in, the same token out) before the model has to find it; without them a
    reader started from scratch stayed at the guess rate (measured, see the README). The check
    set is always in the reader's real format. `same_kind_share` and `entry_share`: see
    `reader_context`.
    """
    rng = random.Random(seed)
    facts = world.practice_facts()
    cut = max(1, n // 20)
    out = []
    for i in range(n):
        fact = rng.choice(facts)
        k = rng.choice(chunks)
        warm_up = sentence_share > 0 and i >= cut and rng.random() < sentence_share
        prompt = fact.sentence if warm_up else assemble(fact.question, reader_context(world, fact, rng, k, same_kind_share, entry_share)).text
        out.append(Example("fact", prompt, value_token(fact.value)))
    return out[cut:], out[:cut]


def with_context(model: GPT, block_size: int) -> GPT:
    """A copy of a rotary-position model with a longer context window (rotary tables have no weights)."""
    if model.config.position != "rope":
        return copy.deepcopy(model)  # a learned position table cannot grow: keep the window it has
    config = copy.deepcopy(model.config)
    config.block_size = max(block_size, config.block_size)
    longer = GPT(config).to(model.device)
    longer.load_state_dict(model.state_dict())
    return longer


@dataclass
class Row:
    """One question answered and scored."""

    fact: object  # world.Fact
    prompt: str  # the user turn the model got
    answer: ScoredAnswer
    correct: bool
    seen: int | None = None  # times the closed-book model was trained on this fact (0 = unknown)
    retrieved_right: bool | None = None  # open book: whether a chunk stating the fact was in the prompt
    abstained: bool = False  # open book: no retrieved chunk scored enough to be read, so no answer was given


def closed_book_rows(model: GPT, tokenizer: Tokenizer, world: World, facts, stop: threading.Event | None = None) -> list[Row]:
    rows = []
    for f in facts:
        if stop is not None and stop.is_set():
            break
        a = answer_with_confidence(model, tokenizer, f.question)
        rows.append(Row(f, f.question, a, a.text.strip() == f.value, world.seen.get(f.person, 0)))
    return rows


NO_ANSWER = ScoredAnswer("", 0.0, float("nan"), ())


def open_book_rows(model: GPT, tokenizer: Tokenizer, world: World, store: Store, facts, k: int = 3, stop: threading.Event | None = None,
                   min_score: float = 0.0) -> list[Row]:
    """Each fact's question answered from the top k chunks that score at least `min_score` (none: the row abstains)."""
    from llm_core.retrieval.store import holds

    rows = []
    for f in facts:
        if stop is not None and stop.is_set():
            break
        hits = [h for h in store.search(f.question, k) if h.score >= min_score]
        if not hits:
            rows.append(Row(f, "", NO_ANSWER, False, world.seen.get(f.person, 0), False, abstained=True))
            continue
        prompt = assemble(f.question, [h.chunk.text for h in hits], tokenizer, model.config.block_size)
        a = answer_with_confidence(model, tokenizer, prompt.text, READER_MAX_TOKENS)
        got = any(holds(h.chunk.text, f.person, f.value) for h in hits[: prompt.chunks_used])
        rows.append(Row(f, prompt.text, a, spoken(a.text) == f.value, world.seen.get(f.person, 0), got))
    return rows


def exact_match(rows: list[Row]) -> float:
    return sum(r.correct for r in rows) / max(1, len(rows))


class FineTune:
    """Fine-tune a copy of a base model as the closed-book model or the reader; the base is untouched."""

    def __init__(
        self, kind: str, base_model: GPT, base_tokenizer: Tokenizer, world: World, cfg: TrainConfig | None = None, seed: int = 0,
        base_name: str = "base", n_reader_examples: int = 6000, reader_chunks=(1, 2, 3, 3, 4), sentence_share: float = 0.0,
        parent_lineage: dict | None = None,
        same_kind_share: float = 0.0, entry_share: float = 0.0,
    ):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}.")
        self.kind, self.world, self.base_name, self.seed = kind, world, base_name, seed
        self.parent = parent_lineage or lineage.of_model(base_model, base_tokenizer, name=base_name)
        self.cfg = (cfg or (closed_book_config() if kind == "closed-book" else reader_config())).validate()
        if kind == "closed-book":
            self.train_set, self.check = closed_book_examples(world)
        else:
            self.train_set, self.check = reader_examples(world, n_reader_examples, seed, reader_chunks, sentence_share, same_kind_share, entry_share)
        texts = [e.prompt + e.response for e in self.train_set] + [READABLE, INSTRUCTION]
        model, self.tokenizer = extend_vocabulary(base_model, base_tokenizer, texts)
        if kind == "reader":
            model, self.tokenizer = with_value_tokens(with_context(model, READER_CONTEXT), self.tokenizer, world)
        self.model = model
        self.batches = ChatBatches(self.train_set, self.check, self.tokenizer, self.model.config.block_size)
        self.state = TrainState()
        self.last: Metrics | None = None
        self.history: list[dict] = []
        self.name = f"{kind} fine-tuning"

    def steps(self, stop_event: threading.Event):
        for m in train(self.model, self.batches, self.cfg, stop_event=stop_event, state=self.state):
            self.last = m
            if m.val_loss is not None:
                self.history.append(dict(step=m.step, train_loss=round(m.train_loss, 4), val_loss=round(m.val_loss, 4)))
            yield m

    def finish(self, last: Metrics | None, reason: str | None) -> TrainedModel | None:
        if self.state.step == 0:
            return None
        frozen = copy.deepcopy(self.model).eval()
        record = dict(
            stage=f"knowing: {self.kind}", kind=self.kind, base_model=self.base_name, world_seed=self.world.seed,
            train_examples=len(self.train_set), steps=self.state.step, tokens_seen=self.state.tokens_seen,
            elapsed_s=round(self.state.elapsed_s, 2), stop_reason=reason, train_config=self.cfg.to_dict(),
            val_loss=None if last is None or last.val_loss is None else round(last.val_loss, 4), history=list(self.history),
            trained_in="LLM Lab, Knowing and not knowing chapter", created=time.strftime("%Y-%m-%d %H:%M:%S"),
        )
        lin = lineage.make(frozen, self.tokenizer, "retrieval fine-tune", parent=self.parent, steps=self.state.step, time_s=self.state.elapsed_s,
                           data=dict(kind=self.kind, world_seed=self.world.seed, examples=len(self.train_set)), settings=self.cfg.to_dict(),
                           flops=6 * frozen.num_params() * self.state.tokens_seen,
                           losses=dict(train=last.train_loss if last else None, val=last.val_loss if last else None))
        return TrainedModel(frozen, self.tokenizer, record, describe_checkpoint(frozen, self.tokenizer, record, lin))

    def measure(self) -> None:
        """Nothing to measure in the worker: the chapter measures the finished model itself."""

    def make_job(self, gate: JobGate | None = None, time_cap_s: float | None = None, idle_timeout_s: float | None = None, backend: str | None = None) -> Job:
        """Its job runs in a worker process (`llm_core.workers.stages`)."""
        return stage_job(self, gate=gate, time_cap_s=time_cap_s, idle_timeout_s=idle_timeout_s, backend=backend)


@torch.no_grad()
def reader_prompt_lengths(world: World, tokenizer: Tokenizer, n: int = 200) -> int:
    """The longest rendered reader example (tokens), to check it fits the reader's context."""
    train_set, _ = reader_examples(world, n)
    from llm_core.alignment.finetune import encode_example

    return max(len(encode_example(tokenizer, e.prompt, e.response)[0]) for e in train_set)
