"""Learning from preferences: a reward model from pairwise rankings, and preference tuning (DPO).

What it is: the second half of "RLHF" on a model you can watch.
  - `RewardModel`: the fine-tuned transformer with a scalar head on the final vector of a rendered
    exchange; trained with the pairwise (Bradley-Terry) loss -log sigmoid(r_chosen - r_rejected),
    i.e. it learns to give the response people preferred the higher score.
  - `DPOPair`: direct preference optimisation (Rafailov et al., 2023). It tunes a policy so that
    beta * [(log pi(chosen) - log ref(chosen)) - (log pi(rejected) - log ref(rejected))] grows,
    where ref is the frozen SFT model; the log-ratio to ref acts as the KL leash that keeps the
    policy close to what it was. A likelihood term on the chosen responses is added (RPO), because
    plain DPO made this tiny model's answers shorter and worse. Its batch metrics are the
    preference margin and the KL divergence from the reference per response token.
Both plug into the one training loop (`train.train`) through `model(x, y) -> (_, loss)`.
What it is not: the rankings (`rating.py`, by the written instructions of `judge.py`) or RLHF's
policy-gradient stage (`rlhf.py`), which optimises against the reward model trained here.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from llm_core.alignment.finetune import END, encode_example
from llm_core.alignment.tasks import Example
from llm_core.model.gpt import GPT
from llm_core.text.tokenizers import Tokenizer


@dataclass
class Pair:
    example: Example  # the prompt (and its task, for checking)
    chosen: str
    rejected: str
    rated_by: str = "rater"  # "you" or "rater" (see rating.py)


def _pair_rows(tokenizer: Tokenizer, pairs: list[Pair], block_size: int):
    """(ids, mask) for chosen and rejected of each pair, truncated to the context window."""
    rows = []
    for p in pairs:
        for response in (p.chosen, p.rejected):
            ids, mask = encode_example(tokenizer, p.example.prompt, response)
            rows.append((ids[: block_size + 1], mask[: block_size + 1]))
    return rows


class PairBatches:
    """Preference pairs for `train.train`: x (2B, T) with chosen rows first, y (2B, T) targets (-100 off-response).

    Row i and row B+i are the chosen and rejected response to the same prompt.
    """

    def __init__(self, train: list[Pair], val: list[Pair], tokenizer: Tokenizer, block_size: int):
        if not train or not val:
            raise ValueError("preference training needs at least one training pair and one held-out pair.")
        self.pad = tokenizer.special_tokens[END]
        self.train_rows = _pair_rows(tokenizer, train, block_size)
        self.val_rows = _pair_rows(tokenizer, val, block_size)

    def _collate(self, pair_indices, rows):
        chosen = [rows[2 * i] for i in pair_indices]
        rejected = [rows[2 * i + 1] for i in pair_indices]
        ordered = chosen + rejected
        width = max(len(ids) - 1 for ids, _ in ordered)
        x = torch.full((len(ordered), width), self.pad, dtype=torch.long)
        y = torch.full((len(ordered), width), -100, dtype=torch.long)
        for r, (ids, mask) in enumerate(ordered):
            x[r, : len(ids) - 1] = torch.tensor(ids[:-1])
            y[r, : len(ids) - 1] = torch.tensor([t if m else -100 for t, m in zip(ids[1:], mask[1:])])
        return x, y

    def train_batch(self, batch_size: int, generator: torch.Generator):
        picks = torch.randint(len(self.train_rows) // 2, (batch_size,), generator=generator).tolist()
        return self._collate(picks, self.train_rows)

    def val_batches(self, batch_size: int = 64):
        n = len(self.val_rows) // 2
        for i in range(0, n, batch_size):
            yield self._collate(range(i, min(n, i + batch_size)), self.val_rows)


def last_positions(y: torch.Tensor) -> torch.Tensor:
    """Index of the last learned (response) position of each row: where the reward is read."""
    positions = torch.arange(y.size(1), device=y.device).expand_as(y)
    return torch.where(y != -100, positions, torch.zeros_like(positions)).max(1).values


class RewardModel(nn.Module):
    """A transformer with a scalar head: r(prompt, response) read at the last response position."""

    def __init__(self, backbone: GPT):
        super().__init__()
        self.backbone = copy.deepcopy(backbone)
        weight = backbone.wte.weight  # the head lives where the backbone does (a GPU's model scored through a CPU head failed)
        self.score = nn.Linear(backbone.config.n_embd, 1, device=weight.device, dtype=weight.dtype)
        nn.init.zeros_(self.score.weight)
        nn.init.zeros_(self.score.bias)
        self.config = backbone.config
        self._stats: dict = {}

    @property
    def device(self):
        return self.backbone.device

    def rewards(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.backbone.hidden_states(x)  # (N, T, C)
        last = last_positions(y)  # (N,)
        return self.score(h[torch.arange(x.size(0), device=x.device), last]).squeeze(-1).float()  # (N,)

    def forward(self, x, y=None):
        r = self.rewards(x, y)
        if y is None:
            return r, None
        half = x.size(0) // 2
        margin = r[:half] - r[half:]
        loss = -F.logsigmoid(margin).mean()
        self._stats = {"accuracy": (margin > 0).float().mean().detach(), "margin": margin.mean().detach()}
        return r, loss

    def batch_metrics(self) -> dict:
        return {k: float(v) for k, v in self._stats.items()}


@torch.no_grad()
def reward_accuracy(model: RewardModel, batches: PairBatches) -> float:
    """Fraction of held-out pairs where the reward model scores the chosen response higher."""
    model.eval()
    right = total = 0
    for x, y in batches.val_batches():
        r = model.rewards(x.to(model.device), y.to(model.device))
        half = x.size(0) // 2
        right += int((r[:half] > r[half:]).sum())
        total += half
    return right / max(1, total)


@torch.no_grad()
def score(model: RewardModel, tokenizer: Tokenizer, example: Example, response: str) -> float:
    ids, mask = encode_example(tokenizer, example.prompt, response)
    x = torch.tensor([ids[:-1]], device=model.device)
    y = torch.tensor([[t if m else -100 for t, m in zip(ids[1:], mask[1:])]], device=model.device)
    model.eval()
    return float(model.rewards(x, y)[0])


def sequence_logprobs(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Sum over learned positions of log p(target): (N, T, V), (N, T) -> (N,)."""
    logp = F.log_softmax(logits.float(), -1)
    picked = logp.gather(-1, y.clamp(min=0)[..., None]).squeeze(-1)  # (N, T)
    return (picked * (y != -100)).sum(-1)


class DPOPair(nn.Module):
    """The policy being tuned and its frozen reference; forward gives the DPO loss for `train.train`."""

    def __init__(self, policy: GPT, reference: GPT, beta: float = 0.1, nll_weight: float = 1.0):
        super().__init__()
        self.policy = policy
        self.reference = copy.deepcopy(reference).eval()
        for p in self.reference.parameters():
            p.requires_grad_(False)
        self.beta = beta
        self.nll_weight = nll_weight
        self.config = policy.config
        self._stats: dict = {}

    @property
    def device(self):
        return self.policy.device

    def forward(self, x, y=None):
        logits, _ = self.policy(x)
        if y is None:
            return logits, None
        with torch.no_grad():
            ref_logits, _ = self.reference(x)
        policy_logp = sequence_logprobs(logits, y)  # (2B,)
        log_ratio = policy_logp - sequence_logprobs(ref_logits, y)  # (2B,)
        half = x.size(0) // 2
        margin = self.beta * (log_ratio[:half] - log_ratio[half:])
        mask = y != -100
        # DPO alone lowers the likelihood of chosen and rejected alike and drifts to short answers on
        # a model this small (measured); a likelihood term on the chosen responses (as in RPO,
        # Pang et al., 2024) keeps the preferred answers probable.
        nll = -policy_logp[:half].sum() / mask[:half].sum().clamp(min=1)
        loss = -F.logsigmoid(margin).mean() + self.nll_weight * nll
        p = F.softmax(logits.float(), -1)
        kl = (p * (F.log_softmax(logits.float(), -1) - F.log_softmax(ref_logits.float(), -1))).sum(-1)  # (2B, T)
        self._stats = {
            "margin": margin.mean().detach(),
            "accuracy": (margin > 0).float().mean().detach(),
            "kl": ((kl * mask).sum() / mask.sum().clamp(min=1)).detach(),
            "chosen_nll": nll.detach(),
        }
        return logits, loss

    def batch_metrics(self) -> dict:
        return {k: float(v) for k, v in self._stats.items()}


def split_pairs(pairs: list[Pair], held_out_fraction: float = 0.25, seed: int = 0) -> tuple[list[Pair], list[Pair]]:
    shuffled = pairs[:]
    random.Random(seed).shuffle(shuffled)
    n_val = max(1, int(len(shuffled) * held_out_fraction))
    return shuffled[n_val:], shuffled[:n_val]
