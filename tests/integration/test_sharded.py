"""Sharded full fine-tunes through Ray Train with 2 CPU workers: each worker holds about half
the parameters, the checkpoint is sharded and a rerun resumes from its step, and the export is
a plain safetensors model that loads on its own."""

import json
from pathlib import Path

import pytest
import torch

from helpers import tiny_config
from skutune.train.methods import build_model, load_tuned
from skutune.train.trainer import LOG_FILE, build_trainer, publish_checkpoint, training_dataset


def _fit(cfg, model_dir, ray):
    return build_trainer(cfg, model_dir, training_dataset(cfg)).fit()


def _history(result) -> list[dict]:
    with result.checkpoint.as_directory() as d:
        return [json.loads(line) for line in open(f"{d}/{LOG_FILE}")]


def _settings(strategy: str, steps: int) -> dict:
    return {
        "method": {"name": "full"},
        "train.strategy": strategy,
        "train.lr": 3e-3,
        "train.max_steps": steps,
        "run.name": f"sharded-{strategy}",
    }


# ZeRO-2 saves and resumes through the same DeepSpeed checkpoint code as ZeRO-3, which resumes below
def test_zero2_shards_optimizer_state_not_parameters(tiny_curated, tiny_model_dir, ray_local):
    cfg = tiny_config(tiny_curated[0].output_dir(), **_settings("zero2", 3))
    result = _fit(cfg, tiny_model_dir, ray_local)
    assert result.metrics["local_params_fraction"] == 1.0  # stage 2 shards gradients and optimizer state
    assert [h["step"] for h in _history(result)] == [1, 2, 3]


@pytest.mark.parametrize("strategy", ["fsdp2", "zero3"])
def test_sharded_full_finetune_resumes_and_exports(strategy, tiny_curated, tiny_model_dir, ray_local, tmp_path):
    """...and measures a validation loss on held-out rows every 3 steps, each rank on its shard
    (a sharded forward needs every rank), and it falls."""
    base_cfg, _ = tiny_curated
    settings = {**_settings(strategy, 6), "train.val_fraction": 0.2, "train.val_every_steps": 3}
    cfg = tiny_config(base_cfg.output_dir(), **settings)
    assert cfg.train.num_workers == 2
    first = _fit(cfg, tiny_model_dir, ray_local)
    held = first.metrics["local_params_fraction"]
    assert 0.4 < held < 0.6, held
    h1 = _history(first)
    assert [h["step"] for h in h1] == list(range(1, 7))

    # Same run name, a larger budget: resumes at step 6 from the sharded checkpoint.
    more = tiny_config(base_cfg.output_dir(), **{**settings, "train.max_steps": 10, "train.epochs": 4})
    resumed = _fit(more, tiny_model_dir, ray_local)
    h2 = _history(resumed)
    assert h2[:6] == h1 and [h["step"] for h in h2] == list(range(1, 11))
    assert sum(h["loss"] for h in h2[-3:]) < sum(h["loss"] for h in h2[:3]), h2
    validated = {h["step"]: h["val_loss"] for h in h2 if "val_loss" in h}
    assert sorted(validated) == [3, 6, 9, 10] and validated[10] < validated[3], validated
    assert resumed.metrics["val_loss"] == validated[10]

    with resumed.checkpoint.as_directory() as d:
        out = publish_checkpoint(Path(d), tmp_path / "full", more, tiny_model_dir, {"task": "search"})
    assert (out / "model.safetensors").exists() and (out / "config.json").exists()
    model = load_tuned(tiny_model_dir, out)
    base = build_model(tiny_model_dir, more.method)
    changed = [n for (n, p), (_, q) in zip(model.named_parameters(), base.named_parameters()) if not torch.equal(p, q)]
    assert len(changed) > 10  # trained weights, not the base's
