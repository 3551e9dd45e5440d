"""GPU-only checks (`pytest -m gpu` on a CUDA machine; skipped elsewhere): QLoRA's 4-bit base
trains on the embedded model in less peak memory than LoRA on the full-precision base."""

import pytest
import torch

from skutune.config import METHOD_CONFIG
from skutune.runtime.model_import import embedded_model_dir
from skutune.train.methods import build_model

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def _peak_training_memory(method: dict) -> tuple[int, list[float]]:
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    model = build_model(embedded_model_dir(), METHOD_CONFIG.validate_python(method))
    if not getattr(model, "is_loaded_in_4bit", False):  # the 4-bit base is loaded onto the GPU already
        model = model.cuda()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    x = torch.randint(0, 49152, (8, 256), device="cuda")
    losses = []
    for _ in range(5):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    peak = torch.cuda.max_memory_allocated()
    del model, opt
    return peak, losses


def test_qlora_uses_less_memory_than_lora_and_learns():
    lora, lora_losses = _peak_training_memory({"name": "lora", "r": 16})
    qlora, qlora_losses = _peak_training_memory({"name": "qlora", "r": 16})
    assert qlora < lora, (qlora, lora)
    assert qlora_losses[-1] < qlora_losses[0] and lora_losses[-1] < lora_losses[0]
