"""Tuning methods behind one explicit dispatch table. Each entry turns a base model into
the model to train; its trainable parameters are what gets saved as the artefact."""

from peft import LoraConfig, TaskType, get_peft_model


def lora(model, cfg):
    config = LoraConfig(task_type=TaskType.CAUSAL_LM, r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                        target_modules=list(cfg.target_modules))
    return get_peft_model(model, config)


METHODS = {"lora": lora}


def apply_method(model, cfg):
    if cfg.name not in METHODS:
        raise ValueError(f"method {cfg.name!r} is not one of {sorted(METHODS)}")
    return METHODS[cfg.name](model, cfg)
