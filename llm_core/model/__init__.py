"""The network: its config, the GPT itself (fast, traced and cached paths), checkpoints, the device, where its parameters are, and the standalone runner."""
