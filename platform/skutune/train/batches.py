"""From tokenized examples to training batches: padded, or packed without padding.

Packing puts several examples in one row, best-fit decreasing, so a row wastes almost no
positions on padding. Position ids restart at 0 for every example, and attention never crosses
examples: with no attention mask, transformers reads the restarts in `position_ids` as packed
sequences (a block-diagonal causal mask under SDPA on CPU, varlen kernels under flash attention).
Packing runs in Ray Data `map_batches`, over windows of examples, so it streams.
"""

import bisect

import numpy as np
import torch

try:  # Ray Data hands numpy batches to a NumpyBatchCollateFn; the GPU check's machine has no Ray
    from ray.data.collate_fn import NumpyBatchCollateFn
except ImportError:
    NumpyBatchCollateFn = object


def best_fit_decreasing(lengths: list[int], capacity: int) -> list[list[int]]:
    """Bins of indices: longest item first, each into the fullest bin it still fits."""
    bins: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (space left, bin number), kept sorted
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        if lengths[i] > capacity:
            raise ValueError(f"an example of {lengths[i]} tokens does not fit train.pack_length {capacity}")
        at = bisect.bisect_left(free, (lengths[i], -1))  # the tightest bin with room
        if at == len(free):
            bins.append([i])
            space, b = capacity - lengths[i], len(bins) - 1
        else:
            space, b = free.pop(at)
            bins[b].append(i)
            space -= lengths[i]
        bisect.insort(free, (space, b))
    return bins


def pack_examples(batch: dict, capacity: int, seed: int = 0) -> dict:
    """Ray Data `map_batches`: a window of examples -> packed rows of at most `capacity` tokens,
    with position ids restarting per example and the number of examples per row. The rows come
    out in a seeded random order: best-fit decreasing makes them longest first, and trained in
    that order every epoch ended on nothing but short examples."""
    ids, labels = batch["input_ids"], batch["labels"]
    rows = best_fit_decreasing([len(x) for x in ids], capacity)
    rows = [rows[i] for i in np.random.default_rng(seed).permutation(len(rows))]
    return {
        "input_ids": [np.concatenate([ids[i] for i in row]) for row in rows],
        "labels": [np.concatenate([labels[i] for i in row]) for row in rows],
        "position_ids": [np.concatenate([np.arange(len(ids[i])) for i in row]) for row in rows],
        "examples": np.array([len(row) for row in rows]),
    }


def pack_dataset(ds, capacity: int, window: int = 2048, seed: int = 0):
    return ds.map_batches(
        pack_examples, fn_kwargs={"capacity": capacity, "seed": seed}, batch_size=window, batch_format="numpy"
    )


class LeftPadCollate(NumpyBatchCollateFn):
    """One example per row, left-padded (to `width` if given, else to the longest row). Padded
    positions get label -100; position ids restart at each row's first real token."""

    def __init__(self, pad_id: int, width: int | None = None):
        self.pad_id, self.width = pad_id, width

    def __call__(self, batch: dict) -> dict:
        ids, labels = batch["input_ids"], batch["labels"]
        rows, width = len(ids), self.width or max(len(x) for x in ids)
        out = {
            "input_ids": np.full((rows, width), self.pad_id, dtype=np.int64),
            "labels": np.full((rows, width), -100, dtype=np.int64),
            "attention_mask": np.zeros((rows, width), dtype=np.int64),
        }
        for i, (x, y) in enumerate(zip(ids, labels)):
            out["input_ids"][i, width - len(x) :] = x
            out["labels"][i, width - len(y) :] = y
            out["attention_mask"][i, width - len(x) :] = 1
        out["position_ids"] = np.clip(out["attention_mask"].cumsum(-1) - 1, 0, None)
        out["real_tokens"] = np.array([len(x) for x in ids], dtype=np.int64)
        return {k: torch.from_numpy(v) for k, v in out.items()}


class PackedCollate(NumpyBatchCollateFn):
    """Packed rows, right-padded (to `width` if given, else to the longest row). The padding is
    one more sequence (its own position ids from 0, labels -100), so it attends only to itself.
    No attention mask: the position ids carry the example boundaries."""

    def __init__(self, pad_id: int, width: int | None = None):
        self.pad_id, self.width = pad_id, width

    def __call__(self, batch: dict) -> dict:
        ids, labels, positions = batch["input_ids"], batch["labels"], batch["position_ids"]
        rows, width = len(ids), self.width or max(len(x) for x in ids)
        out = {
            "input_ids": np.full((rows, width), self.pad_id, dtype=np.int64),
            "labels": np.full((rows, width), -100, dtype=np.int64),
            "position_ids": np.tile(np.arange(width, dtype=np.int64), (rows, 1)),
        }
        for i, (x, y, p) in enumerate(zip(ids, labels, positions)):
            out["input_ids"][i, : len(x)], out["labels"][i, : len(x)], out["position_ids"][i, : len(x)] = x, y, p
            out["position_ids"][i, len(x) :] -= len(x)
        out["real_tokens"] = np.array([len(x) for x in ids], dtype=np.int64)
        return {k: torch.from_numpy(v) for k, v in out.items()}


def collate_for(cfg, pad_id: int) -> NumpyBatchCollateFn:
    """Compiled layers get one fixed width, so the graph compiled for the first batch serves every
    full batch (varying shapes recompile: measured 2.7x slower than not compiling at all). An
    epoch's short last batch keeps its own rows and runs eagerly (loop.py), rather than paying a
    full compiled step for a few rows."""
    t = cfg.train
    if t.packing:
        return PackedCollate(pad_id, t.pack_length if t.compile else None)
    return LeftPadCollate(pad_id, cfg.data.max_length if t.compile else None)


def runs_eagerly(cfg, window: list[dict]) -> bool:
    """A compiled run's short batch (fewer rows than train.batch_size: its shape is not the compiled one)."""
    return cfg.train.compile and any(len(b["input_ids"]) < cfg.train.batch_size for b in window)
