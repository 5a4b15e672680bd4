"""Inference: the sampling loop as a generator, and a session stepped one token at a time."""
