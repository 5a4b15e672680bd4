"""Text to ids: tokenizers (characters, LLM Lab's BPE, tiktoken's tables), corpora and splits, and what the Tokenization chapter shows."""
