"""BitFit (Ben Zaken et al. 2021): train only bias terms.

Llama-style models, SmolLM2 included, have no biases in their linear layers. We add a
zero-initialised bias vector to each chosen linear layer (`modules`), so the model starts as
the base, and those vectors are the trainable parameters (and the only ones counted).
"""

from pathlib import Path

import torch
from torch import nn

from skutune.train.methods.named_state import restore_named, save_named


def apply(model, cfg):
    model.requires_grad_(False)
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and name.rsplit(".", 1)[-1] in cfg.modules:
            if module.bias is None:
                module.bias = nn.Parameter(
                    torch.zeros(module.out_features, dtype=module.weight.dtype, device=module.weight.device)
                )
            module.bias.requires_grad_(True)
    return model


def owned(model) -> dict:
    return {k: v for k, v in model.state_dict().items() if k.endswith(".bias")}


def save(model, out_dir: Path) -> None:
    save_named(owned(model), out_dir)


def restore(model, out_dir: Path) -> None:
    restore_named(model, out_dir, set(owned(model)))
