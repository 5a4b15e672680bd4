"""Knowing and not knowing: a generated world of facts, retrieval over it, and measured confidence.

`world` (invented entities, known/unknown splits, questions and encyclopedia documents), `store`
(chunking, BM25, dense retrieval, recall@k), `prompt` (bounded prompt assembly for a reader),
`calibration` (answer confidence, reliability, ECE, abstention), `readers` (closed-book and reader
fine-tuning through the SFT path), `build` (the command that makes the shipped models).
"""
