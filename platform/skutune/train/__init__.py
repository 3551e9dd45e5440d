"""Train: the Ray Train loop, batches and packing, the optimizer step, sharding strategies and tuning methods."""
