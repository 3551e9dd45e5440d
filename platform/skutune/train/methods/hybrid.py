"""LoRA and prefix tuning in one model.

peft's mixed model refuses prompt-learning methods, so we compose them: LoRA layers are
injected into the base with peft's low-level `inject_adapter_in_model`, then the model is
wrapped as a prefix-tuning PeftModel (which freezes everything but the prefix), and the LoRA
parameters are made trainable again unless `train` says to keep them frozen. With
`train: prefix`, LoRA stays at its initialisation (B = 0: no change to the base).
"""

from pathlib import Path

from peft import LoraConfig, PrefixTuningConfig, TaskType, get_peft_model, inject_adapter_in_model

from skutune.train.methods.named_state import restore_named, save_named
from skutune.train.methods.peft_methods import init_prefix_from_text


def apply(model, cfg):
    lora = LoraConfig(r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, target_modules=list(cfg.target_modules))
    model = inject_adapter_in_model(lora, model)
    model = get_peft_model(
        model, PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=cfg.num_virtual_tokens)
    )
    if cfg.init_text:
        init_prefix_from_text(model, cfg.init_text)
    for name, p in model.named_parameters():
        if "lora_" in name:
            p.requires_grad_(cfg.train in ("both", "lora"))
        elif "prompt_encoder" in name:
            p.requires_grad_(cfg.train in ("both", "prefix"))
    return model


def owned(model) -> dict:
    return {k: v for k, v in model.state_dict().items() if "lora_" in k or "prompt_encoder" in k}


def save(model, out_dir: Path) -> None:
    save_named(owned(model), out_dir)


def restore(model, out_dir: Path) -> None:
    restore_named(model, out_dir, set(owned(model)))
