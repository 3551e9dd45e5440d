"""One optimizer step of SFT, and the switches that make it cheaper.

The loss of a step is the cross-entropy summed over every target token of every micro-batch on
every worker, divided by the number of those tokens. That is not the mean of per-micro-batch
means, which would weigh a short answer's tokens more than a long one's, and make the result
depend on how the data was cut into micro-batches and workers.
"""

import contextlib
import functools

import torch
import torch.distributed as dist

from skutune.runtime.precision import bf16_pays


@contextlib.contextmanager
def logits_at_targets(module, labels: torch.Tensor):
    """Run the 49k-wide LM head only where the next token is a target: the model's logits come
    back as [targets, vocab]. Prompt positions and padding never reach the head."""
    select = torch.nn.functional.pad(labels[:, 1:] != -100, (0, 1), value=False)

    def gather(_, args):
        hidden = args[0]
        extra = hidden.shape[1] - select.shape[1]  # prompt tuning prepends virtual tokens
        mask = torch.nn.functional.pad(select, (extra, 0), value=False) if extra else select
        return (hidden[mask],)

    handle = module.get_output_embeddings().register_forward_pre_hook(gather)
    try:
        yield labels[:, 1:][labels[:, 1:] != -100]
    finally:
        handle.remove()


def target_loss_sum(model, module, batch: dict) -> tuple[torch.Tensor, int]:
    """(summed cross-entropy over the batch's target tokens, their number)."""
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "position_ids") if k in batch}
    with logits_at_targets(module, batch["labels"]) as targets:
        logits = model(**inputs, use_cache=False).logits
    loss = torch.nn.functional.cross_entropy(logits.float(), targets, reduction="sum")
    return loss, int(targets.numel())


def mean_target_loss(model, batch: dict) -> torch.Tensor:
    """Mean cross-entropy over the batch's target tokens (eval and single-process training)."""
    loss, n = target_loss_sum(model, model, batch)
    return loss / max(1, n)


def distributed() -> bool:
    """A process group of more than one rank is set up (Ray Train's workers; not the in-process loop)."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _sum_over_workers(value: float, device) -> float:
    if not distributed():
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item())


@functools.lru_cache(maxsize=4)
def bf16_agreed(device_type: str) -> bool:
    """`bf16_pays` on this worker, agreed by every worker: bf16 only where all of them measured it
    pays. Each worker times its own matmuls, and on a busy machine two ranks disagreed; the one
    that cast its frozen weights to bf16 and the one that did not then hung DDP's first broadcast."""
    pays = bf16_pays(device_type)
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        vote = torch.tensor([int(pays)], device="cuda" if device_type == "cuda" else "cpu")
        dist.all_reduce(vote, op=dist.ReduceOp.MIN)
        pays = bool(vote.item())
    return pays


def uses_bf16(device, mode: str) -> bool:
    """ "bf16": wherever the device has it (every CPU torch supports; CUDA from Ampere); "auto":
    where it is also measured to be faster than fp32 on every worker (runtime/precision.py); "no":
    never. The first call is a collective where workers train together: every rank makes it."""
    if mode == "auto":
        return bf16_agreed(device.type)
    return mode == "bf16" and (device.type != "cuda" or torch.cuda.is_bf16_supported())


def autocast(device, mode: str):
    return torch.autocast(device.type, dtype=torch.bfloat16) if uses_bf16(device, mode) else contextlib.nullcontext()


def train_step(strategy, micro_batches: list[dict], world: int, device, precision: str) -> dict:
    """Forward and backward every micro-batch of one optimizer step, then step.

    Each worker scales its summed loss by world / (target tokens on all workers): data-parallel
    strategies average gradients over workers, so the gradient is the global sum / global count."""
    targets = _sum_over_workers(sum(int((b["labels"][:, 1:] != -100).sum()) for b in micro_batches), device)
    scale = world / max(1.0, targets)
    loss_sum = 0.0
    for i, batch in enumerate(micro_batches):
        with autocast(device, precision):
            loss, _ = target_loss_sum(strategy.model, strategy.module, batch)
        strategy.backward(loss * scale, boundary=i == len(micro_batches) - 1)
        loss_sum += loss.item()
    grad_norm = strategy.step()
    return {
        "loss": _sum_over_workers(loss_sum, device) / max(1.0, targets),
        "grad_norm": grad_norm,
        "target_tokens": int(targets),
        "tokens": sum(int(b["real_tokens"].sum()) for b in micro_batches),
    }


def validation_loss(strategy, batches, device, precision: str) -> float:
    """Mean loss per target token over every worker's validation rows. Every rank runs it, each on
    its own shard: a sharded model's forward gathers parameters from all of them."""
    model, loss_sum, targets = strategy.model, 0.0, 0
    model.eval()
    with torch.no_grad():
        for batch in batches:
            with autocast(device, precision):
                loss, n = target_loss_sum(model, strategy.module, {k: v.to(device) for k, v in batch.items()})
            loss_sum, targets = loss_sum + loss.item(), targets + n
    model.train()
    return _sum_over_workers(loss_sum, device) / max(1.0, _sum_over_workers(float(targets), device))


def attention_kernel(choice: str, device) -> str:
    """auto: flash-attn's varlen kernel on CUDA when it is installed, else SDPA (which gets a
    block-diagonal mask for packed rows)."""
    if choice != "auto":
        return choice
    if device.type == "cuda":
        import importlib.util

        if importlib.util.find_spec("flash_attn"):
            return "flash_attention_2"
    return "sdpa"


# Autocast casts every frozen Linear weight to bf16 at every use. Storing them in bf16 once gives
# the same numbers in less time and memory. Not for: full (trains them in fp32), qlora (4-bit),
# dora (reads the base weight's norm in full precision).
KEEP_FP32_BASE = ("full", "qlora", "dora")


def frozen_linears_to_bf16(model) -> None:
    """Cast frozen nn.Linear weights to bf16 (not the LM head, which shares the embeddings)."""
    head = model.get_output_embeddings()
    for m in model.modules():
        if (
            isinstance(m, torch.nn.Linear)
            and m is not head
            and not m.weight.requires_grad
            and m.weight.is_floating_point()
        ):
            m.weight.data = m.weight.data.to(torch.bfloat16)


def _transformers_model(model):
    """The transformers model inside a peft wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def apply_speedups(model, cfg, device):
    """The train config's switches, applied to a built model before the strategy wraps it."""
    t = cfg.train
    kernel = attention_kernel(t.attention, device)
    if kernel != "sdpa":
        model.set_attn_implementation(kernel)
    if uses_bf16(device, t.mixed_precision) and cfg.method.name not in KEEP_FP32_BASE:
        frozen_linears_to_bf16(model)
    if t.liger:
        if device.type != "cuda":
            raise RuntimeError("train.liger needs a CUDA device: Liger's kernels are written in Triton")
        from liger_kernel.transformers import _apply_liger_kernel_to_instance

        # the LM head and loss stay ours: logits are computed at target tokens only
        _apply_liger_kernel_to_instance(
            model=_transformers_model(model), cross_entropy=False, fused_linear_cross_entropy=False
        )
    if t.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if t.compile:
        for layer in _transformers_model(model).model.layers:
            layer.compile()
    return model
