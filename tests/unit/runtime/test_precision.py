"""bf16 is used where it pays, not assumed: on a CPU without native bf16 (AVX2 only) torch
emulates it at a fraction of fp32's speed, and every training step and generation paid for it."""

import torch

from skutune.config import TrainConfig
from skutune.runtime import precision
from skutune.train.step import bf16_agreed, uses_bf16


def test_the_default_precision_is_never_the_slower_one_on_this_cpu():
    default = TrainConfig().mixed_precision
    chosen = torch.bfloat16 if uses_bf16(torch.device("cpu"), default) else torch.float32
    other = torch.float32 if chosen is torch.bfloat16 else torch.bfloat16
    seconds = precision.matmul_seconds((chosen, other))  # the product's own measure, taken again
    assert seconds[chosen] <= 2 * seconds[other], seconds


def test_explicit_modes_and_the_override(monkeypatch):
    cpu = torch.device("cpu")
    assert uses_bf16(cpu, "bf16") and not uses_bf16(cpu, "no")
    for forced, expected in (("1", True), ("0", False)):
        precision.bf16_pays.cache_clear()
        bf16_agreed.cache_clear()  # the workers' agreement is cached per process too
        monkeypatch.setenv("SKUTUNE_BF16", forced)
        assert uses_bf16(cpu, "auto") is expected
    precision.bf16_pays.cache_clear()
    bf16_agreed.cache_clear()
