"""Supervised fine-tuning (SFT): a chat format, response-only loss masks, and answer checking.

What it is: how a base model that only continues text is taught to answer. Each prompt/response
pair is rendered with special tokens,

    <|user|>What is 2+2?<|end|><|assistant|>4<|end|>

and becomes `(ids, mask)`: the mask is 1 only on the response and its closing `<|end|>`, so the
loss teaches the model to answer, not to write questions. Batches carry the mask as targets of
-100 (ignored by the cross-entropy), and training reuses the one loop in `train.py`.
`extend_vocabulary` gives a base model ids for the special tokens and for characters it never saw
(a Shakespeare model has no digit but 3), keeping every existing id and weight.
What it is not: the tasks themselves (`tasks.py`) or preference tuning (`preference.py`).

    >>> from llm_core.text.tokenizers import CharTokenizer
    >>> tok = CharTokenizer.from_text("ab").with_special_tokens(CHAT_TOKENS)
    >>> ids, mask = encode_example(tok, "a", "b")
    >>> [tok.token_text(i) for i in ids]
    ['<|user|>', 'a', '<|end|>', '<|assistant|>', 'b', '<|end|>']
    >>> mask
    [0, 0, 0, 0, 1, 1]
"""

from __future__ import annotations

import copy
import random

import torch

from llm_core.alignment.tasks import Example, is_correct
from llm_core.generation.sample import generate
from llm_core.model.gpt import GPT
from llm_core.text.tokenizers import CharTokenizer, Tokenizer, tokenizer_from_dict

USER, ASSISTANT, END = "<|user|>", "<|assistant|>", "<|end|>"
CHAT_TOKENS = (USER, ASSISTANT, END)


def render_prompt(prompt: str) -> str:
    return f"{USER}{prompt}{END}{ASSISTANT}"


def is_chat_model(tokenizer: Tokenizer) -> bool:
    """True for a model made by fine-tuning here: its tokenizer has the three chat tokens."""
    return all(t in getattr(tokenizer, "special_tokens", {}) for t in CHAT_TOKENS)


def chat_prompt(tokenizer: Tokenizer, text: str) -> str:
    """What a typed prompt becomes for this model: the chat template for a chat model (unless the
    text already holds chat tokens), the text itself for a base model.

    >>> from llm_core.text.tokenizers import CharTokenizer
    >>> tok = CharTokenizer.from_text("ab").with_special_tokens(CHAT_TOKENS)
    >>> chat_prompt(tok, "ab"), chat_prompt(CharTokenizer.from_text("ab"), "ab")
    ('<|user|>ab<|end|><|assistant|>', 'ab')
    """
    if not is_chat_model(tokenizer) or any(t in text for t in CHAT_TOKENS):
        return text
    return render_prompt(text)


def encode_example(tokenizer: Tokenizer, prompt: str, response: str) -> tuple[list[int], list[int]]:
    """Token ids of one rendered exchange and its loss mask (1 = learned: the response and its end)."""
    head = tokenizer.encode(render_prompt(prompt))
    tail = tokenizer.encode(response + END)
    return head + tail, [0] * len(head) + [1] * len(tail)


def needed_characters(tokenizer: Tokenizer, texts) -> list[str]:
    """Characters a character tokenizer lacks for these texts (none for byte-level tokenizers)."""
    if not isinstance(tokenizer, CharTokenizer):
        return []
    return sorted({c for t in texts for c in t if c not in tokenizer.stoi})


def chat_tokenizer(tokenizer: Tokenizer, texts=()) -> Tokenizer:
    """A copy of the tokenizer that also knows the chat tokens and every character in `texts`.

    Ordinary ids keep their numbers; special tokens always follow the ordinary vocabulary, so
    they are re-numbered after any new characters. A published GPT tokenizer refuses (TokenizerError).
    """
    if tokenizer.kind == "tiktoken":
        return tokenizer.with_special_tokens(CHAT_TOKENS)  # raises: its special tokens are fixed
    data = tokenizer.to_dict()
    old_special = dict(data.get("special_tokens", {}))
    new_chars = needed_characters(tokenizer, texts)
    if data["type"] == "char":
        data["chars"] = data["chars"] + "".join(new_chars)
    names = list(old_special) + [t for t in CHAT_TOKENS if t not in old_special]
    first = tokenizer.vocab_size - len(old_special) + len(new_chars)
    data["special_tokens"] = {name: first + i for i, name in enumerate(names)}
    return tokenizer_from_dict(data)


@torch.no_grad()
def extend_vocabulary(model: GPT, tokenizer: Tokenizer, texts=()) -> tuple[GPT, Tokenizer]:
    """A copy of model and tokenizer that also knows the chat tokens and every character in `texts`.

    Existing ids keep their meaning and their weights. New rows of the token embedding start at
    the mean of the old rows (a neutral vector), new rows of the output head at zero.
    """
    old_special = dict(tokenizer.to_dict().get("special_tokens", {}))
    new_chars = needed_characters(tokenizer, texts)
    new_tok = chat_tokenizer(tokenizer, texts)
    data = new_tok.to_dict()
    if new_tok.vocab_size == tokenizer.vocab_size and not new_chars:
        return copy.deepcopy(model), new_tok

    old_v, new_v = tokenizer.vocab_size, new_tok.vocab_size
    # old id -> new id: ordinary ids keep their place, specials move to their new numbers
    mapping = {i: i for i in range(old_v - len(old_special))}
    mapping.update({old_special[name]: data["special_tokens"][name] for name in old_special})
    config = copy.deepcopy(model.config)
    config.vocab_size = new_v
    new_model = GPT(config).to(model.device)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    old_ids, new_ids = list(mapping), [mapping[i] for i in mapping]
    wte = state["wte.weight"].mean(0, keepdim=True).repeat(new_v, 1)
    wte[new_ids] = state["wte.weight"][old_ids]
    state["wte.weight"] = wte
    if "head.weight" in state:
        head = torch.zeros(new_v, state["head.weight"].size(1), device=model.device)
        head[new_ids] = state["head.weight"][old_ids]
        state["head.weight"] = head
    new_model.load_state_dict(state)
    return new_model, new_tok


class ChatBatches:
    """SFT data for `train.train`: padded rows of rendered examples, targets -100 outside responses."""

    def __init__(self, train: list[Example], val: list[Example], tokenizer: Tokenizer, block_size: int):
        self.pad = tokenizer.special_tokens[END]
        self.block_size = block_size
        self.train_rows = [self._row(tokenizer, ex) for ex in train]
        self.val_rows = [self._row(tokenizer, ex) for ex in val]
        if not self.train_rows or not self.val_rows:
            raise ValueError("fine-tuning needs at least one training and one held-out example.")

    def _row(self, tokenizer, ex: Example):
        ids, mask = encode_example(tokenizer, ex.prompt, ex.response)
        if len(ids) > self.block_size + 1:
            raise ValueError(f"the example {ex.prompt!r} is longer than the model's context of {self.block_size}.")
        targets = [t if m else -100 for t, m in zip(ids[1:], mask[1:])]
        return ids[:-1], targets

    def _collate(self, rows):
        width = max(len(x) for x, _ in rows)
        x = torch.full((len(rows), width), self.pad, dtype=torch.long)
        y = torch.full((len(rows), width), -100, dtype=torch.long)
        for i, (ids, targets) in enumerate(rows):
            x[i, : len(ids)] = torch.tensor(ids)
            y[i, : len(targets)] = torch.tensor(targets)
        return x, y

    def train_batch(self, batch_size: int, generator: torch.Generator):
        picks = torch.randint(len(self.train_rows), (batch_size,), generator=generator).tolist()
        return self._collate([self.train_rows[i] for i in picks])

    def val_batches(self, batch_size: int = 64):
        for i in range(0, len(self.val_rows), batch_size):
            yield self._collate(self.val_rows[i : i + batch_size])


def answer(model: GPT, tokenizer: Tokenizer, prompt: str, max_tokens: int = 24, temperature: float = 0.0, seed: int = 0) -> str:
    """The model's response to one prompt in the chat format (greedy by default), without the end token."""
    ids = tokenizer.encode(render_prompt(prompt))
    end = tokenizer.special_tokens[END]
    room = model.config.block_size - len(ids)
    if room <= 0:
        raise ValueError("the prompt leaves no room for an answer in the context window.")
    out = [s.token_id for s in generate(model, ids, min(max_tokens, room), temperature=temperature, seed=seed, stop_ids=[end], top_n=0, keep_logits=False)]
    if out and out[-1] == end:
        out = out[:-1]
    return tokenizer.decode(out)


def exact_match(model: GPT, tokenizer: Tokenizer, examples: list[Example], temperature: float = 0.0, seed: int = 0) -> tuple[float, list[str]]:
    """Fraction of examples answered exactly right, and the answers."""
    answers = [answer(model, tokenizer, ex.prompt, temperature=temperature, seed=seed + i) for i, ex in enumerate(examples)]
    score = sum(is_correct(ex, a) for ex, a in zip(examples, answers)) / max(1, len(examples))
    return score, answers


def sample_examples(examples: list[Example], n: int, seed: int = 0) -> list[Example]:
    rng = random.Random(seed)
    return rng.sample(examples, min(n, len(examples)))
