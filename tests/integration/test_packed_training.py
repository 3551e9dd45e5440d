"""Packing through Ray Train and Ray Data: a step's gradient is the same however the data is cut into
micro-batches and workers, and the packed data path keeps every example."""

import json

import numpy as np
import pytest
import ray
import torch

from helpers import tiny_config
from skutune.train.batches import LeftPadCollate
from skutune.train.methods import build_model
from skutune.train.step import mean_target_loss
from skutune.train.trainer import LOG_FILE, build_trainer, training_dataset


def _first_step(cfg, model_dir, rows) -> dict:
    result = build_trainer(cfg, model_dir, ray.data.from_items(rows)).fit()
    with result.checkpoint.as_directory() as d:
        history = [json.loads(line) for line in open(f"{d}/{LOG_FILE}")]
    assert len(history) == 1, history
    return history[0]


def test_two_workers_accumulating_two_equal_the_whole_batch_in_one_process(
    tiny_curated, tiny_model_dir, ray_local, tmp_path
):
    """Through Ray Train and Ray Data, 2 workers x 2 micro-batches give the loss and gradient of
    the 16 rows in one forward: each worker scales its summed loss by the targets on all workers.
    (That packed rows give the loss and gradient of the same rows unpacked: test_packing.py.)"""
    cfg, _ = tiny_curated
    rows = [{"input_ids": r["input_ids"], "labels": r["labels"]} for r in training_dataset(cfg).take(16)]
    lengths = [int((np.asarray(r["labels"]) != -100).sum()) for r in rows]
    assert len(set(lengths)) > 3  # answers of different lengths: a mean of means would differ
    common = {"train.epochs": 1, "train.batch_size": 4, "train.mixed_precision": "no", "train.lr": 1e-3}
    run = tiny_config(tmp_path / "b", **common, **{"train.num_workers": 2, "train.grad_accum": 2})
    steps = {"2x2": _first_step(run, tiny_model_dir, rows)}
    # the reference: the whole batch in one process, the loss summed over targets / their number
    torch.manual_seed(cfg.run.seed)
    model = build_model(tiny_model_dir, cfg.method)
    whole = LeftPadCollate(0)({k: [np.asarray(r[k]) for r in rows] for k in ("input_ids", "labels")})
    loss = mean_target_loss(model, whole)
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1e9)

    for name, step in steps.items():
        assert step["target_tokens"] == sum(lengths), name
        assert step["loss"] == pytest.approx(loss.item(), rel=1e-5), name
        assert step["grad_norm"] == pytest.approx(norm.item(), rel=1e-4), (name, steps)


def test_packing_in_the_data_path_keeps_every_example(tiny_curated, ray_local):
    cfg, _ = tiny_curated
    n = training_dataset(cfg).count()
    packed = training_dataset(
        tiny_config(cfg.output_dir(), **{"train.packing": True, "train.pack_length": 480})
    ).take_all()
    assert sum(r["examples"] for r in packed) == n and len(packed) < n / 2
    assert max(len(r["input_ids"]) for r in packed) <= 480
