"""From base model to assistant: instruction data, supervised fine-tuning, reward model and preference tuning, the stages as jobs."""
