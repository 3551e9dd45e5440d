"""LR schedules (transformers.get_scheduler's, warm-up from the first step) and a user's DeepSpeed
config merged over skutune's: offload runs for real in a one-process ZeRO-3 group; keys skutune
owns are refused when the config loads."""

import json

import pytest
import torch

from helpers import tiny_config
from skutune.config import ConfigError
from skutune.train.strategies import _optimizer, deepspeed_config

WARMUP, TOTAL = 4, 20


def _lrs(tmp_path, name: str) -> list[float]:
    cfg = tiny_config(tmp_path, **{"train.lr_scheduler": name, "train.warmup_steps": WARMUP, "train.lr": 1.0})
    opt, sched = _optimizer([torch.nn.Parameter(torch.zeros(1))], cfg, TOTAL)
    lrs = []
    for _ in range(TOTAL):
        lrs.append(opt.param_groups[0]["lr"])  # the lr this step trains with
        opt.step()
        sched.step()
    return lrs


@pytest.mark.parametrize("name", ["linear", "cosine", "constant_with_warmup"])
def test_schedules_are_transformers_after_a_warm_up_that_trains_from_step_one(tmp_path, name):
    from transformers import get_scheduler

    lrs = _lrs(tmp_path, name)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    hf = get_scheduler(name, opt, num_warmup_steps=WARMUP, num_training_steps=TOTAL).lr_lambdas[0]
    assert lrs[:WARMUP] == [(s + 1) / WARMUP for s in range(WARMUP)]  # transformers' first step: lr 0
    assert lrs[WARMUP:] == pytest.approx([hf(s) for s in range(WARMUP, TOTAL)])


def test_the_schedules_differ_where_they_should(tmp_path):
    linear, cosine, constant = (_lrs(tmp_path, n) for n in ("linear", "cosine", "constant_with_warmup"))
    mid = (WARMUP + TOTAL) // 2
    assert constant[WARMUP:] == [1.0] * (TOTAL - WARMUP)
    assert linear[mid] == pytest.approx(0.5) and cosine[mid] == pytest.approx(0.5)
    assert cosine[WARMUP + 2] > linear[WARMUP + 2] and cosine[-2] < linear[-2]  # cosine: slow start, fast end


def test_a_deepspeed_json_merges_offload_and_refuses_what_skutune_owns(tmp_path):
    user = tmp_path / "ds.json"
    user.write_text(json.dumps({"zero_optimization": {"offload_optimizer": {"device": "cpu"}}}))
    cfg = tiny_config(tmp_path, **{"method": {"name": "full"}, "train.strategy": "zero3", "train.deepspeed": str(user)})
    merged = deepspeed_config(cfg, 3)
    assert merged["zero_optimization"] == {"stage": 3, "offload_optimizer": {"device": "cpu"}}
    assert merged["train_micro_batch_size_per_gpu"] == cfg.train.batch_size
    for bad, word in (
        ({"gradient_clipping": 5.0}, "gradient_clipping"),
        ({"optimizer": {"type": "Adam"}}, "optimizer"),
        ({"zero_optimization": {"stage": 2}}, "zero_optimization.stage"),
    ):
        with pytest.raises(ConfigError, match=word):
            tiny_config(tmp_path, **{"method": {"name": "full"}, "train.strategy": "zero3", "train.deepspeed": bad})
    with pytest.raises(ConfigError, match="zero2 or zero3"):
        tiny_config(tmp_path, **{"train.deepspeed": {"zero_optimization": {}}})
    with pytest.raises(ConfigError, match="not a readable JSON file"):
        tiny_config(tmp_path, **{"train.strategy": "zero3", "train.deepspeed": str(tmp_path / "missing.json")})


def test_zero3_trains_with_the_optimizer_offloaded(tmp_path, monkeypatch):
    """A real one-process gloo group: DeepSpeed takes the merged config, keeps the optimizer
    state on the CPU offload path, and the loss falls."""
    import torch.distributed as dist

    from skutune.train.strategies import DeepSpeedZero

    for k, v in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1"}.items():  # what a launcher sets
        monkeypatch.setenv(k, v)
    offload = {"zero_optimization": {"offload_optimizer": {"device": "cpu"}}, "zero_force_ds_cpu_optimizer": False}
    cfg = tiny_config(
        tmp_path,
        **{"method": {"name": "full"}, "train.strategy": "zero3", "train.deepspeed": offload, "train.warmup_steps": 0},
    )
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        torch.manual_seed(0)
        zero = DeepSpeedZero(torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Linear(8, 1)), cfg, 10, "cpu", 3)
        assert zero.model.zero_optimization_stage() == 3 and zero.model.zero_cpu_offload()
        x = torch.randn(16, 8)
        losses = []
        for _ in range(5):
            loss = zero.model(x).pow(2).mean()
            zero.backward(loss, True)
            zero.step()
            losses.append(loss.item())
        assert losses[-1] < losses[0], losses
    finally:
        dist.destroy_process_group()
