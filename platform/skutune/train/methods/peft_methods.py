"""The methods peft implements: LoRA, DoRA, QLoRA, IA3, prefix and prompt tuning.

Artefacts are plain peft directories (adapter_config.json + adapter_model.safetensors), so
`PeftModel.from_pretrained` and the Serve app's shared-base multiplexing read them as they are.
"""

from pathlib import Path

import torch
from peft import (
    IA3Config,
    LoraConfig,
    PrefixTuningConfig,
    PromptTuningConfig,
    PromptTuningInit,
    TaskType,
    get_peft_model,
    prepare_model_for_kbit_training,
    set_peft_model_state_dict,
)
from safetensors.torch import load_file

WEIGHTS = "adapter_model.safetensors"


def _lora_config(cfg) -> LoraConfig:
    return LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=cfg.r,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=list(cfg.target_modules),
        use_dora=cfg.name == "dora",
    )


def lora(model, cfg):
    return get_peft_model(model, _lora_config(cfg))


def load_4bit(model_dir, cfg):
    """The frozen base in 4-bit NF4 with double quantisation (QLoRA); bitsandbytes runs it on CPU too."""
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    quant = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=getattr(torch, cfg.compute_dtype),
    )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return AutoModelForCausalLM.from_pretrained(str(model_dir), quantization_config=quant, device_map=device)


def qlora(model, cfg):
    # Gradient checkpointing is a train switch, not part of the method: leave it off here.
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return get_peft_model(model, _lora_config(cfg))


def ia3(model, cfg):
    return get_peft_model(
        model,
        IA3Config(
            task_type=TaskType.CAUSAL_LM,
            target_modules=list(cfg.target_modules),
            feedforward_modules=list(cfg.feedforward_modules),
        ),
    )


def prefix(model, cfg):
    peft_model = get_peft_model(
        model, PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=cfg.num_virtual_tokens)
    )
    if cfg.init_text:
        init_prefix_from_text(peft_model, cfg.init_text)
    return peft_model


@torch.no_grad()
def init_prefix_from_text(peft_model, text: str) -> None:
    """Start the prefix as the keys and values the base computes for `text` (repeated to fill
    the virtual tokens), as Li & Liang (2021) suggest. peft's default N(0, 1) vectors sit in
    every layer's attention at full strength and swamp a small model: the loss starts far above
    the base's and does not recover in a short run."""
    from transformers import AutoTokenizer

    n = peft_model.peft_config["default"].num_virtual_tokens
    base = peft_model.get_base_model()
    ids = AutoTokenizer.from_pretrained(base.config._name_or_path)(text, add_special_tokens=False)["input_ids"]
    ids = (ids * (n // max(1, len(ids)) + 1))[:n]
    device = next(base.parameters()).device
    with peft_model.disable_adapter():
        cache = base(input_ids=torch.tensor([ids], device=device), use_cache=True).past_key_values
    rows = []  # peft's layout per virtual token: [layer0 key, layer0 value, layer1 key, ...], each heads x head_dim
    for layer in cache.layers:
        rows += [layer.keys[0].permute(1, 0, 2).reshape(n, -1), layer.values[0].permute(1, 0, 2).reshape(n, -1)]
    embedding = peft_model.prompt_encoder["default"].embedding
    embedding.weight.copy_(torch.cat(rows, dim=1).to(embedding.weight.dtype))


def prompt(model, cfg):
    """Soft prompt, initialised from the embeddings of `init_text` (better than random for small budgets)."""
    init = {"prompt_tuning_init": PromptTuningInit.RANDOM}
    if cfg.init_text:
        init = {
            "prompt_tuning_init": PromptTuningInit.TEXT,
            "prompt_tuning_init_text": cfg.init_text,
            "tokenizer_name_or_path": model.config._name_or_path,
        }
    return get_peft_model(
        model, PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=cfg.num_virtual_tokens, **init)
    )


def save(model, out_dir: Path) -> None:
    model.save_pretrained(str(out_dir))


def restore(model, out_dir: Path) -> None:
    result = set_peft_model_state_dict(model, load_file(str(Path(out_dir) / WEIGHTS)))
    # prompt-learning weights load outside load_state_dict, so only tuner layers can be checked here
    missing = [k for k in result.missing_keys if "lora_" in k or "ia3_" in k]
    if missing:
        raise ValueError(f"{out_dir}: adapter lacks {missing[:3]}")
