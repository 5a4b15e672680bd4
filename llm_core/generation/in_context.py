"""In-context (few-shot) learning, measured: the same question asked with no examples in the prompt
and with a few, and how likely the model finds the right answer each time.

What it is: a handful of word tasks (copy a word, capitalise it, reverse it) written as lines
"word: answer". `few_shot_prompt` puts K worked examples before the question; `few_shot_curve`
asks each of a fixed list of questions with K = 0, 1, 2, 4 examples and measures the probability
of the right answer's first token, of the whole answer (every token of it in turn, the model
reading the right ones before), and whether greedy decoding writes exactly the answer (it does when
the top guess is right at every answer position, which the same single pass shows). Numbers
come from the model in front of it; nothing is assumed about what a model of its size can do.
What it is not: a benchmark of a large model's few-shot skills (Brown et al. 2020 measure those),
or training: the weights never change, only the prompt.

    >>> few_shot_prompt(TASKS["reverse"], "king", ["love", "sword"])
    'love: evol\\nsword: drows\\nking: '
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from llm_core.model.gpt import GPT
from llm_core.text.tokenizers import Tokenizer, TokenizerError

SEPARATOR = ": "
SHOTS = (0, 1, 2, 4)
WORDS = ("king", "lord", "love", "night", "sword", "crown", "heart", "blood", "grace", "queen", "father", "friend")
QUESTIONS = 8  # the first QUESTIONS words are asked; examples come from all the others


@dataclass(frozen=True)
class Task:
    name: str  # what the task is, in words
    answer: Callable[[str], str]


TASKS = {
    "copy": Task("copy the word", lambda w: w),
    "capitalise": Task("write it with a capital letter", lambda w: w[:1].upper() + w[1:]),
    "reverse": Task("write it backwards", lambda w: w[::-1]),
}


def few_shot_prompt(task: Task, query: str, examples: list[str]) -> str:
    """K worked examples, one per line, then the question left open after the separator."""
    return "".join(f"{e}{SEPARATOR}{task.answer(e)}\n" for e in examples) + f"{query}{SEPARATOR}"


def examples_for(query: str, k: int, seed: int) -> list[str]:
    """K example words other than the query, the same first ones for every K (so K=4 adds to K=2).

    >>> examples_for("king", 2, 0) == examples_for("king", 4, 0)[:2], "king" in examples_for("king", 11, 0)
    (True, False)
    """
    others = [w for w in WORDS if w != query]
    random.Random(seed).shuffle(others)
    return others[:k]


@dataclass
class Question:
    query: str
    answer: str
    shots: int
    prompt: str
    first_prob: float  # probability of the answer's first token, right after the prompt
    answer_prob: float  # probability of the whole answer, token by token
    first_guess: str  # the model's most likely first token of the answer
    exact: bool  # greedy decoding would write exactly the answer


@dataclass
class ShotPoint:
    shots: int
    questions: list[Question] = field(default_factory=list)

    @property
    def first_prob(self) -> float:
        return sum(q.first_prob for q in self.questions) / len(self.questions)

    @property
    def answer_prob(self) -> float:
        return sum(q.answer_prob for q in self.questions) / len(self.questions)

    @property
    def exact(self) -> int:
        return sum(q.exact for q in self.questions)


@dataclass
class FewShotCurve:
    task: str  # a key of TASKS
    points: list[ShotPoint]  # one per number of examples that fits the context window
    vocab_size: int
    skipped_shots: list[int]  # numbers of examples whose prompts did not fit the context window

    @property
    def zero(self) -> ShotPoint:
        return self.points[0]

    @property
    def most(self) -> ShotPoint:
        return self.points[-1]

    @property
    def gain(self) -> float:
        """How many times likelier the right first token is with the most examples than with none."""
        return self.most.first_prob / self.zero.first_prob if self.zero.first_prob > 0 else math.inf


def _split_ids(tokenizer: Tokenizer, prompt: str, answer: str) -> tuple[list[int], list[int]]:
    """(prompt ids, answer ids): as the tokenizer cuts prompt + answer when that keeps the prompt's
    tokens whole (a BPE may merge across the boundary), else the two encoded apart."""
    prompt_ids = tokenizer.encode(prompt)
    both = tokenizer.encode(prompt + answer)
    if both[: len(prompt_ids)] == prompt_ids and len(both) > len(prompt_ids):
        return prompt_ids, both[len(prompt_ids):]
    return prompt_ids, tokenizer.encode(answer)


@torch.inference_mode()
def ask(model: GPT, tokenizer: Tokenizer, task: Task, query: str, examples: list[str]) -> Question | None:
    """One question with its examples; None when the prompt and answer do not fit the context window."""
    prompt = few_shot_prompt(task, query, examples)
    answer = task.answer(query)
    prompt_ids, answer_ids = _split_ids(tokenizer, prompt, answer)
    ids = prompt_ids + answer_ids
    if len(ids) > model.config.block_size or not answer_ids:
        return None
    logits, _ = model(torch.tensor([ids], dtype=torch.long, device=model.device))
    logp = torch.log_softmax(logits[0].float(), dim=-1)
    P = len(prompt_ids)
    answer_logp = logp[P - 1 : P - 1 + len(answer_ids)]  # (A, V): the predictions for each answer token
    token_logps = [float(answer_logp[i, t]) for i, t in enumerate(answer_ids)]
    top = answer_logp.argmax(-1).tolist()
    # Greedy decoding writes the answer exactly when the top guess is right at every answer position: while
    # it is right, greedy's text and the right answer are the same context, so one pass tells it.
    return Question(query, answer, len(examples), prompt, math.exp(token_logps[0]), math.exp(sum(token_logps)),
                    tokenizer.decode([top[0]]), top == answer_ids)


def readable(tokenizer: Tokenizer, task: Task) -> bool:
    """Can the tokenizer write every word, answer and separator of the task?"""
    try:
        for w in WORDS:
            tokenizer.encode(f"{w}{SEPARATOR}{task.answer(w)}\n")
    except TokenizerError:
        return False
    return True


def few_shot_curve(model: GPT, tokenizer: Tokenizer, task_key: str, shots=SHOTS, questions: int = QUESTIONS) -> FewShotCurve:
    """Ask the same questions with each number of examples in `shots`; drop a number whose prompts do not fit.

    Raises ValueError for an unknown task or one the tokenizer cannot write.
    """
    if task_key not in TASKS:
        raise ValueError(f"unknown task {task_key!r}; choose one of {', '.join(TASKS)}.")
    task = TASKS[task_key]
    if not readable(tokenizer, task):
        raise ValueError("this model's tokenizer cannot write the task's words.")
    model.eval()
    points, skipped = [], []
    for k in shots:
        asked = [ask(model, tokenizer, task, w, examples_for(w, k, seed=i)) for i, w in enumerate(WORDS[:questions])]
        if any(q is None for q in asked):
            skipped.append(k)
            continue
        points.append(ShotPoint(k, asked))
    if not points or points[0].shots != 0:
        raise ValueError("even the question alone does not fit this model's context window.")
    return FewShotCurve(task_key, points, model.config.vocab_size, skipped)
