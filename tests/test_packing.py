"""Packing and loss normalisation: a packed row trains exactly like its examples padded one per
row, and a step's gradient is the same however the data is cut into micro-batches and workers."""

import json

import numpy as np
import pytest
import ray
import torch
from helpers import demo_store, tiny_config

from skutune.data.curate import Tokenize
from skutune.demo.examples import build_examples
from skutune.train.batches import LeftPadCollate, PackedCollate, best_fit_decreasing, pack_examples
from skutune.train.methods import build_model
from skutune.train.step import mean_target_loss
from skutune.train.trainer import LOG_FILE, build_trainer, training_dataset


def test_best_fit_decreasing_fills_bins_tightly():
    bins = best_fit_decreasing([5, 4, 3, 3, 2, 1], capacity=6)
    assert sorted(sorted([5, 4, 3, 3, 2, 1][i] for i in b) for b in bins) == [[1, 5], [2, 4], [3, 3]]
    lengths = list(np.random.default_rng(0).integers(1, 100, size=500))
    bins = best_fit_decreasing(lengths, capacity=256)
    assert sorted(i for b in bins for i in b) == list(range(500))
    assert max(sum(lengths[i] for i in b) for b in bins) <= 256
    assert len(bins) <= int(np.ceil(sum(lengths) / 256)) + 1  # next to no space wasted
    with pytest.raises(ValueError, match="does not fit"):
        best_fit_decreasing([300], capacity=256)


@pytest.fixture(scope="module")
def examples(tiny_model_dir):
    tok = Tokenize(str(tiny_model_dir), 160, demo_store())
    rows = [ex for ex in build_examples() if ex["split"] == "train"][:12]
    ids, labels = zip(*(tok.encode(ex) for ex in rows))
    return {"input_ids": [np.array(x) for x in ids], "labels": [np.array(y) for y in labels]}, tok.tok.pad_token_id


def test_packed_loss_and_gradients_equal_unpacked(examples, tiny_model_dir):
    batch, pad = examples
    packed = pack_examples(batch, capacity=400)
    assert len(packed["input_ids"]) < len(batch["input_ids"]) / 2 and packed["examples"].sum() == 12
    torch.manual_seed(0)
    model = build_model(tiny_model_dir, tiny_config("/tmp/unused").method)

    def loss_and_grads(collated):
        model.zero_grad()
        loss = mean_target_loss(model, collated)
        loss.backward()
        return loss.item(), torch.cat([p.grad.flatten() for p in model.parameters() if p.requires_grad])

    unpacked_loss, unpacked_grad = loss_and_grads(LeftPadCollate(pad)(batch))
    rows = PackedCollate(pad)(packed)
    assert "attention_mask" not in rows and (rows["position_ids"] == 0).sum() >= 12
    packed_loss, packed_grad = loss_and_grads(rows)
    assert packed_loss == pytest.approx(unpacked_loss, rel=1e-5)
    assert torch.allclose(packed_grad, unpacked_grad, rtol=1e-3, atol=1e-6)

    # the same rows with positions that do not restart let attention cross examples: not the same loss
    crossing = {**rows, "position_ids": torch.arange(rows["input_ids"].shape[1]).expand_as(rows["input_ids"])}
    assert abs(loss_and_grads(crossing)[0] - unpacked_loss) > 1e-3


def _first_step(cfg, model_dir, rows) -> dict:
    result = build_trainer(cfg, model_dir, ray.data.from_items(rows)).fit()
    with result.checkpoint.as_directory() as d:
        history = [json.loads(line) for line in open(f"{d}/{LOG_FILE}")]
    assert len(history) == 1, history
    return history[0]


def test_one_worker_accumulating_four_equals_two_workers_accumulating_two(
    tiny_curated, tiny_model_dir, ray_local, tmp_path
):
    cfg, _ = tiny_curated
    rows = [{"input_ids": r["input_ids"], "labels": r["labels"]} for r in training_dataset(cfg).take(16)]
    lengths = [int((np.asarray(r["labels"]) != -100).sum()) for r in rows]
    assert len(set(lengths)) > 3  # answers of different lengths: a mean of means would differ

    common = {"train.epochs": 1, "train.batch_size": 4, "train.mixed_precision": "no", "train.lr": 1e-3}
    runs = {
        "1x4": tiny_config(tmp_path / "a", **common, **{"train.num_workers": 1, "train.grad_accum": 4}),
        "2x2": tiny_config(tmp_path / "b", **common, **{"train.num_workers": 2, "train.grad_accum": 2}),
        "1x4 packed": tiny_config(
            tmp_path / "c",
            **common,
            **{"train.num_workers": 1, "train.grad_accum": 4, "train.packing": True, "train.pack_length": 320},
        ),
    }
    steps = {}
    for name, run in runs.items():
        data = rows
        if run.train.packing:
            packed = pack_examples({k: [np.asarray(r[k]) for r in rows] for k in ("input_ids", "labels")}, 320)
            data = [dict(zip(packed, values)) for values in zip(*packed.values())]
        steps[name] = _first_step(run, tiny_model_dir, data)

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
