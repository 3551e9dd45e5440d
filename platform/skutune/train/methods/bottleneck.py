"""Bottleneck adapters (Houlsby et al. 2019; Pfeiffer et al. 2020): a small down-projection,
nonlinearity and up-projection added to a sub-layer's output, before the residual add.

Houlsby places one after attention and one after the MLP in every layer; Pfeiffer only after
the MLP. The up-projection starts at zero, so the adapted model starts as the base model.
Adapters are child modules of the sub-layer they follow (`self_attn.adapter`, `mlp.adapter`),
called by a forward hook, so the base's parameter names do not change.
"""

from pathlib import Path

import torch
from torch import nn

from skutune.train.methods.named_state import restore_named, save_named

PLACEMENTS = {"houlsby": ("self_attn", "mlp"), "pfeiffer": ("mlp",)}


class Bottleneck(nn.Module):
    def __init__(self, width: int, size: int):
        super().__init__()
        self.down = nn.Linear(width, size)
        self.up = nn.Linear(size, width)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.up(nn.functional.gelu(self.down(h)))


def _after(module, args, output):
    if isinstance(output, tuple):  # attention returns (hidden, weights)
        return (module.adapter(output[0]), *output[1:])
    return module.adapter(output)


def apply(model, cfg):
    model.requires_grad_(False)
    width = model.config.hidden_size
    for layer in model.model.layers:
        for name in PLACEMENTS[cfg.placement]:
            sub = getattr(layer, name)
            ref = next(sub.parameters())
            sub.adapter = Bottleneck(width, cfg.size).to(device=ref.device, dtype=ref.dtype)
            sub.register_forward_hook(_after)
    return model


def owned(model) -> dict:
    return {k: v for k, v in model.state_dict().items() if ".adapter." in k}


def save(model, out_dir: Path) -> None:
    save_named(owned(model), out_dir)


def restore(model, out_dir: Path) -> None:
    restore_named(model, out_dir, set(owned(model)))
