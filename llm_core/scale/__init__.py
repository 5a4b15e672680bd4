"""Scale: how loss falls with model size, data and compute, measured on this machine; and emergence.

`flops` counts parameters (with and without embeddings) and training FLOPs; `sweep` trains a
ladder of model sizes at several compute budgets with the one training loop and writes every run
to JSON; `fit` fits power laws and IsoFLOP parabolas with scipy; `emergence` trains a small model
on reversed-answer 3-digit addition and measures exact match beside smooth metrics. The command
line is `python -m llm_core.scaling`.
"""
