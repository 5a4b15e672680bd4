"""Fine-tuning against pre-training: the compute of the learner's own runs beside published ones.

What it is: training FLOPs of each stage from the tokens it processed, counted the way the rest of
LLM Lab counts pre-training (`training.cost.train_flops_per_token`: about 6 per parameter per token
for a forward and a backward pass, plus attention), with the extra forward passes each stage makes:
DPO also runs the frozen reference model (one forward, about 2 per parameter per token), RLHF also
samples its answers, runs the reference and the reward model (three forwards). Evaluations are left
out, as they are for pre-training. Then the published figures: InstructGPT's SFT and PPO-ptx
compute against GPT-3's pre-training (Ouyang et al. 2022, Section 5.1) and Llama 2 70B's
pre-training (6 x parameters x tokens, and its GPU-hours: Touvron et al. 2023), every one read
from the claims register (`llm_core.literature`).
What it is not: a profiler (these are counts from shapes and tokens) or Streamlit.

    >>> stage_flops("RLHF", 1_000, 10) == 2 * stage_flops("SFT", 1_000, 10)
    True
    >>> f"{PETAFLOP_S_DAY:.3g}"
    '8.64e+19'
"""

from __future__ import annotations

from dataclasses import dataclass

from llm_core import literature
from llm_core.model.config import ModelConfig
from llm_core.training.cost import train_flops_per_token

PETAFLOP_S_DAY = 1e15 * 24 * 3600  # the unit of Ouyang et al.'s compute figures: 10^15 FLOP/s for a day

# Forward passes a stage makes beside its own forward and backward, each a third of the training cost per token.
EXTRA_FORWARDS = {"pre-training": 0, "SFT": 0, "reward model": 0, "DPO": 1, "RLHF": 3}


def stage_flops(stage: str, flops_per_token: float, tokens: float) -> float:
    """Training FLOPs of a stage that processed `tokens` tokens, at `flops_per_token` (forward + backward)."""
    return flops_per_token * tokens * (1 + EXTRA_FORWARDS[stage] / 3)


@dataclass(frozen=True)
class ComputeRow:
    run: str  # "yours: SFT", "InstructGPT 175B: SFT", ...
    stage: str  # "pre-training" or a fine-tuning stage
    flops: float
    ours: bool  # measured here (True) or published
    seconds: float | None = None  # wall time here
    gpu_hours: float | None = None  # published GPU time
    pretraining_flops: float | None = None  # the pre-training this fine-tune started from
    how: str = ""  # how the figure was counted, or its source

    @property
    def share_of_pretraining(self) -> float | None:
        if self.stage == "pre-training" or not self.pretraining_flops:
            return None
        return self.flops / self.pretraining_flops


def pretraining_row(name: str, config: ModelConfig, record: dict | None) -> ComputeRow | None:
    """The pre-training of the model fine-tuning started from, from its record (None when the record lacks its tokens)."""
    record = record or {}
    tokens = record.get("tokens_seen")
    if not tokens or record.get("stage"):  # no tokens recorded, or a model itself made by a fine-tuning stage here
        return None
    per_token = train_flops_per_token(config)
    return ComputeRow(f"yours: {name}", "pre-training", float(per_token * tokens), True, seconds=record.get("elapsed_s"),
                      how=f"{per_token:,} FLOPs per token x {int(tokens):,} tokens")


def stage_row(stage: str, config: ModelConfig, tokens: float, seconds: float | None, pretraining: ComputeRow | None) -> ComputeRow:
    """One of the learner's fine-tuning stages (`config`: the model it tuned, chat tokens included)."""
    per_token = train_flops_per_token(config)
    extra = EXTRA_FORWARDS[stage]
    how = f"{per_token:,} FLOPs per token x {int(tokens):,} tokens" + (f" x (1 + {extra}/3) for {extra} more forward pass{'es' if extra > 1 else ''}" if extra else "")
    return ComputeRow(f"yours: {stage}", stage, stage_flops(stage, per_token, tokens), True, seconds=seconds,
                      pretraining_flops=pretraining.flops if pretraining else None, how=how)


def published_rows() -> list[ComputeRow]:
    """GPT-3's pre-training with InstructGPT's SFT and PPO-ptx on top, and Llama 2 70B's pre-training, from the register."""
    gpt3 = literature.value("instructgpt_gpt3_pfs_days") * PETAFLOP_S_DAY
    where = literature.cite("instructgpt_sft_pfs_days")
    rows = [
        ComputeRow("GPT-3 175B", "pre-training", gpt3, False,
                   how=f"{literature.value('instructgpt_gpt3_pfs_days'):,.0f} petaflop/s-days ({literature.cite('instructgpt_gpt3_pfs_days')})"),
        ComputeRow("InstructGPT 175B: SFT", "SFT", literature.value("instructgpt_sft_pfs_days") * PETAFLOP_S_DAY, False, pretraining_flops=gpt3,
                   how=f"{literature.value('instructgpt_sft_pfs_days'):g} petaflop/s-days ({where})"),
        ComputeRow("InstructGPT 175B: PPO-ptx (RLHF)", "RLHF", literature.value("instructgpt_ppo_ptx_pfs_days") * PETAFLOP_S_DAY, False, pretraining_flops=gpt3,
                   how=f"{literature.value('instructgpt_ppo_ptx_pfs_days'):g} petaflop/s-days ({literature.cite('instructgpt_ppo_ptx_pfs_days')})"),
    ]
    per = literature.value("kaplan_flops_per_param_token")
    params, tokens = literature.value("llama2_70b_params"), literature.value("llama2_tokens")
    rows.append(ComputeRow("Llama 2 70B", "pre-training", per * params * tokens, False, gpu_hours=literature.value("llama2_70b_gpu_hours"),
                           how=f"{per:g} x {params:.3g} parameters x {tokens:.3g} tokens; {literature.value('llama2_70b_gpu_hours'):,.0f} GPU-hours "
                               f"({literature.cite('llama2_70b_gpu_hours')})"))
    return rows
