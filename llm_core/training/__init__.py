"""Training: the one loop (a generator of metrics), the optimizers, a resumable run for the app, cost estimates, and data-parallel training under torchrun."""
