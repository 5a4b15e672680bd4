"""Compression: a language model as a real lossless compressor, and what models cost.

- `coder`: the model's next-token probabilities drive a range coder (constriction); a `.llmz`
  file decodes back to the exact text, with an escape for characters the vocabulary lacks;
- `codelength`: the model's ideal code length on a text (sum of -log2 p), in one batched pass;
- `baselines`: gzip, bzip2, xz and an adaptive order-k character count model on the same text;
- `costs`: size classes, weights file sizes, memory to run, training compute, GPU-hours and
  cost, every constant with its source, and the description-length arithmetic (weights + coded
  text) behind "10 TB of text into a 140 GB file";
- `running`: running a model (about 2 FLOPs per parameter per token) against training it (about 6);
- `memorization`: prompts from the training text, greedy continuations compared with the text.
"""
