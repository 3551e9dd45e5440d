"""Batched greedy generation for eval and serving.

Prompts are sorted by length and left-padded so one forward pass per step serves a whole
batch, with the KV cache reused across steps (`generate`'s default).
"""

import contextlib
import os

import torch
from tqdm.auto import tqdm

from skutune.prompts import prompt_messages


def load_model(model_dir, adapter_dir=None, merge: bool = True, threads: int | None = None):
    """Base model, or base + any method's artefact (methods.load_tuned). LoRA-style adapters
    on a full-precision base are merged for speed."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from skutune.methods import load_tuned

    if threads:
        torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.padding_side = "left"
    if adapter_dir is None:
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    else:
        model = load_tuned(model_dir, adapter_dir)
        if merge and mergeable(model):
            model = model.merge_and_unload()
    if not getattr(model, "is_loaded_in_4bit", False):  # 4-bit weights are placed when loaded
        model = model.to("cuda" if torch.cuda.is_available() else "cpu")
    return tok, model.eval()


def mergeable(model) -> bool:
    """LoRA, DoRA and IA3 fold into the base weights (not on a 4-bit base: that would requantise)."""
    from peft import PeftModel, PeftType

    if not isinstance(model, PeftModel) or getattr(model, "is_loaded_in_4bit", False):
        return False
    return model.peft_config["default"].peft_type in (PeftType.LORA, PeftType.IA3)


def render(tok, query: str, region: str, date: str, target: str = "answer") -> str:
    return tok.apply_chat_template(prompt_messages(query, region, date, target), tokenize=False, add_generation_prompt=True)


@torch.inference_mode()
def generate_batch(tok, model, prompts: list[str], max_new_tokens: int) -> list[str]:
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
    autocast = torch.autocast(model.device.type, dtype=torch.bfloat16) if model.device.type == "cpu" else contextlib.nullcontext()
    with autocast:
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id,
                             eos_token_id=tok.eos_token_id)
    return tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)


def generate_all(tok, model, prompts: list[str], batch_size: int, max_new_tokens: int, desc: str = "generate") -> list[str]:
    """Answers in the prompts' order; batches are formed over length-sorted prompts."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    answers = [""] * len(prompts)
    bar = tqdm(total=len(prompts), desc=desc, unit="prompt", disable=os.environ.get("SKUTUNE_NO_BARS") == "1")
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        for i, text in zip(idx, generate_batch(tok, model, [prompts[i] for i in idx], max_new_tokens)):
            answers[i] = text
        bar.update(len(idx))
    bar.close()
    return answers

