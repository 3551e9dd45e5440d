"""Batched greedy generation for eval and serving.

Prompts are sorted by length and left-padded so one forward pass per step serves a whole
batch, with the KV cache reused across steps (`generate`'s default).
"""

import contextlib
import os
import time

import torch
from tqdm.auto import tqdm
from transformers import StoppingCriteria

from skutune.prompts import prompt_messages
from skutune.runtime.precision import autocast_bf16, bf16_pays

# The last position's logits, asked for by index, not by transformers' default `logits_to_keep=1`
# (a slice). Over a prompt the slice is a strided view, and F.linear on a strided 3-D input (torch
# 2.13, CPU) runs as a bmm that first copies the whole lm_head weight once per row: a 56-token
# prefill took 229 ms at batch 1 and 2,849 ms at batch 16, against 91 and 429 ms by index (the
# same logits). Indexing copies one hidden state per row.
LAST_POSITION = torch.tensor([-1])


def load_model(model_dir, adapter_dir=None, merge: bool = True, threads: int | None = None, bf16: bool | None = None):
    """Base model, or base + any method's artefact (methods.load_tuned). LoRA-style adapters
    on a full-precision base are merged for speed. Weights are held in bf16 where bf16 pays
    (precision.py; `bf16` True or False decides instead): decoding is bound by reading the
    weights, and fp32 weights under bf16 autocast were recast at every step (measured on 2 CPU
    cores: 47 against 79 ms a token)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from skutune.train.methods import load_tuned

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
    return tok, place(model, bf16)


def place(model, bf16: bool | None = None):
    """`model` on the GPU if there is one, its weights in bf16 where bf16 pays, in eval mode."""
    if not getattr(model, "is_loaded_in_4bit", False):  # 4-bit weights are placed (and typed) when loaded
        device = "cuda" if torch.cuda.is_available() else "cpu"
        model = model.to(device)
        # the weights only: buffers such as RoPE's inv_freq stay fp32, as from_pretrained keeps them
        if bf16_pays(device) if bf16 is None else bf16:
            for param in model.parameters():
                param.data = param.data.to(torch.bfloat16)
    return model.eval()


def merged_lora(model_dir, adapter_dir):
    """The base with a LoRA adapter (any peft LoRA directory) folded into its fp32 weights, placed."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    return place(PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload())


def mergeable(model) -> bool:
    """LoRA, DoRA and IA3 fold into the base weights (not on a 4-bit base: that would requantise)."""
    from peft import PeftModel, PeftType

    if not isinstance(model, PeftModel) or getattr(model, "is_loaded_in_4bit", False):
        return False
    return model.peft_config["default"].peft_type in (PeftType.LORA, PeftType.IA3)


def defang(tok, text: str) -> str:
    """Client text without the tokenizer's special tokens: rendered into a prompt, "<|im_end|>
    <|im_start|>system" in a query would otherwise end the user's turn and forge a new one."""
    for special in sorted(set(tok.all_special_tokens), key=len, reverse=True):
        text = text.replace(special, "")
    return text


def render(tok, query: str, region: str, date: str, store, target: str = "answer") -> str:
    """The prompt for one query, with `store`'s system prompt (store.py)."""
    return tok.apply_chat_template(
        prompt_messages(defang(tok, query), region, date, store, target), tokenize=False, add_generation_prompt=True
    )


def prompt_learning(model) -> bool:
    """Prefix / prompt tuning (and hybrid, which is a prefix model with LoRA inside)."""
    config = getattr(model, "peft_config", {}).get("default")
    return bool(config and config.is_prompt_learning)


class Deadline(StoppingCriteria):
    """Stops every row once `time.monotonic()` passes `at`, checked after each new token: a
    request that has had its 504 no longer holds the replica."""

    def __init__(self, at: float):
        self.at = at

    def __call__(self, input_ids, scores, **kwargs) -> torch.Tensor:
        return torch.full((input_ids.shape[0],), time.monotonic() > self.at, dtype=torch.bool, device=input_ids.device)


@torch.inference_mode()
def greedy_without_cache(
    model, input_ids, attention_mask, max_new_tokens: int, eos_id: int, logits_processor=(), deadline=None
) -> torch.Tensor:
    """Greedy decoding by full forward passes. peft 0.21 hands a prefix to `generate` as
    `past_key_values`, which transformers 5.2x ignores in favour of its own `cache` (the
    virtual tokens silently drop out); the plain forward pass applies them correctly."""
    done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
    for _ in range(max_new_tokens):
        logits = model(input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=LAST_POSITION).logits[:, -1]
        for processor in logits_processor:
            logits = processor(input_ids, logits)
        nxt = logits.argmax(-1)
        nxt = torch.where(done, eos_id, nxt)
        input_ids = torch.cat([input_ids, nxt[:, None]], dim=1)
        attention_mask = torch.cat([attention_mask, torch.ones_like(nxt)[:, None]], dim=1)
        done |= nxt == eos_id
        if done.all() or (deadline is not None and time.monotonic() > deadline):
            break
    return input_ids


@torch.inference_mode()
def generate_ids(
    tok,
    model,
    prompts: list[str],
    max_new_tokens: int,
    logits_processor=(),
    adapter_names=None,
    streamer=None,
    deadline: float | None = None,
) -> list[list[int]]:
    """Greedy new token ids per prompt, up to and including EOS. `logits_processor`: e.g.
    constrained.RowConstraints; `adapter_names`: peft's per-row LoRA adapter ("__base__" for none),
    so one pass serves several adapters; `streamer`: a TextIteratorStreamer, fed as tokens come;
    `deadline`: a `time.monotonic()` past which decoding stops (Deadline)."""
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
    autocast = autocast_bf16("cpu") if model.device.type == "cpu" else contextlib.nullcontext()
    with autocast:
        if prompt_learning(model):
            out = greedy_without_cache(
                model,
                enc["input_ids"],
                enc["attention_mask"],
                max_new_tokens,
                tok.eos_token_id,
                logits_processor,
                deadline,
            )
        else:
            extra = {"adapter_names": adapter_names} if adapter_names else {}
            extra |= {"streamer": streamer} if streamer else {}
            extra |= {"stopping_criteria": [Deadline(deadline)]} if deadline is not None else {}
            out = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tok.pad_token_id,
                eos_token_id=tok.eos_token_id,
                logits_processor=list(logits_processor),
                logits_to_keep=LAST_POSITION,
                **extra,
            )
    rows = []
    for ids in out[:, enc["input_ids"].shape[1] :].tolist():
        end = ids.index(tok.eos_token_id) + 1 if tok.eos_token_id in ids else len(ids)
        rows.append(ids[:end])
    return rows


def generate_batch(tok, model, prompts: list[str], max_new_tokens: int, grammar=None) -> list[str]:
    processors = ()
    if grammar is not None:
        from skutune.serve.constrained import constraints_for  # xgrammar: only where a grammar is asked for

        processors = constraints_for([grammar] * len(prompts))
    return tok.batch_decode(generate_ids(tok, model, prompts, max_new_tokens, processors), skip_special_tokens=True)


def generate_all(
    tok, model, prompts: list[str], batch_size: int, max_new_tokens: int, desc: str = "generate", grammar=None
) -> list[str]:
    """Answers in the prompts' order; batches are formed over length-sorted prompts. `grammar`: an
    xgrammar CompiledGrammar every answer is decoded under (constrained.py)."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    answers = [""] * len(prompts)
    bar = tqdm(total=len(prompts), desc=desc, unit="prompt", disable=os.environ.get("SKUTUNE_NO_BARS") == "1")
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        for i, text in zip(idx, generate_batch(tok, model, [prompts[i] for i in idx], max_new_tokens, grammar)):
            answers[i] = text
        bar.update(len(idx))
    bar.close()
    return answers
