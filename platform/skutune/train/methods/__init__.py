"""Tuning methods behind one explicit dispatch table.

A method is four plain functions (`Method`): how to load the base for it, how to turn the base
into the model to train, and how to save and restore its artefact. Every artefact is a
directory with `skutune.json` (the method's config) beside the method's own files, so
`load_tuned(base_dir, artefact_dir)` rebuilds any of them the same way: base -> apply -> restore.
"""

import json
from pathlib import Path
from typing import Callable, NamedTuple

import torch

from skutune.train.methods import bitfit, bottleneck, full, hybrid, peft_methods


class Method(NamedTuple):
    apply: Callable  # (model, cfg) -> model to train; only the method's parameters require grad
    save: Callable  # (model, dir) -> None: the method's state (not the frozen base)
    restore: Callable  # (model, dir) -> None: load what `save` wrote into an applied model
    load_base: Callable = None  # (model_dir, cfg) -> base model; default: fp32 weights


METHODS = {
    "full": Method(full.apply, full.save, full.restore),
    "lora": Method(peft_methods.lora, peft_methods.save, peft_methods.restore),
    "dora": Method(peft_methods.lora, peft_methods.save, peft_methods.restore),
    "qlora": Method(peft_methods.qlora, peft_methods.save, peft_methods.restore, peft_methods.load_4bit),
    "ia3": Method(peft_methods.ia3, peft_methods.save, peft_methods.restore),
    "prefix": Method(peft_methods.prefix, peft_methods.save, peft_methods.restore),
    "prompt": Method(peft_methods.prompt, peft_methods.save, peft_methods.restore),
    "bottleneck": Method(bottleneck.apply, bottleneck.save, bottleneck.restore),
    "bitfit": Method(bitfit.apply, bitfit.save, bitfit.restore),
    "hybrid": Method(hybrid.apply, hybrid.save, hybrid.restore),
}
META_FILE = "skutune.json"


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"method {name!r} is not one of {sorted(METHODS)}")
    return METHODS[name]


def load_base(model_dir, cfg):
    from transformers import AutoModelForCausalLM

    method = get_method(cfg.name)
    if method.load_base is not None:
        return method.load_base(model_dir, cfg)
    return AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)


def build_model(model_dir, cfg):
    """The base model with the method applied: what a training worker starts from."""
    return get_method(cfg.name).apply(load_base(model_dir, cfg), cfg)


def parameter_counts(model) -> dict:
    """Trainable and total parameters. 4-bit weights count as their unpacked size."""
    total = trainable = 0
    for p in model.parameters():
        n = p.numel() * 2 if p.dtype == torch.uint8 else p.numel()  # bitsandbytes packs two 4-bit values per byte
        total += n
        trainable += n if p.requires_grad else 0
    return {"trainable": trainable, "total": total, "trainable_pct": 100.0 * trainable / max(1, total)}


def save_artefact(model, out_dir: Path, cfg) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    get_method(cfg.name).save(model, out_dir)
    (out_dir / META_FILE).write_text(json.dumps({"method": cfg.model_dump()}, indent=2))
    return out_dir


def method_config(artefact_dir: Path):
    from skutune.config import METHOD_CONFIG

    meta = json.loads((Path(artefact_dir) / META_FILE).read_text())
    method = meta["method"]
    return METHOD_CONFIG.validate_python(method if isinstance(method, dict) else {"name": method})


def load_tuned(model_dir, artefact_dir):
    """Any method's artefact on its base, ready for eval: base -> apply -> restore."""
    cfg = method_config(artefact_dir)
    model = build_model(model_dir, cfg)
    get_method(cfg.name).restore(model, Path(artefact_dir))
    return model
