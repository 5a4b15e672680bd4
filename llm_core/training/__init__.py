"""Training: the one loop (a generator of metrics), the optimizers, a resumable run for the app, and cost estimates."""
