"""The Ray Train side of SFT: the per-worker loop, the trainer, and the adapter export.

Each worker reads its shard with `get_dataset_shard`, trains the method's parameters, and
at every epoch end rank 0 reports a checkpoint (adapter + optimizer + scheduler + position).
A rerun under the same run name finds the run's checkpoints in storage and resumes.
"""

import contextlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import ray
import ray.train
import ray.train.torch
import torch
from ray.data.collate_fn import NumpyBatchCollateFn
from safetensors.torch import load_file, save_file

from skutune.config import JobConfig, parse_config
from skutune.methods import apply_method

log = logging.getLogger(__name__)
STATE_FILE = "trainer_state.pt"
LOG_FILE = "train_log.jsonl"


class LeftPadCollate(NumpyBatchCollateFn):
    """Left-pad a batch of token lists, so every answer ends at the last position.
    Padded positions get label -100 and position ids restart at each row's first token."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, batch: dict) -> dict:
        ids, labels = batch["input_ids"], batch["labels"]
        width = max(len(x) for x in ids)
        out = {"input_ids": np.full((len(ids), width), self.pad_id, dtype=np.int64),
               "labels": np.full((len(ids), width), -100, dtype=np.int64),
               "attention_mask": np.zeros((len(ids), width), dtype=np.int64)}
        for i, (x, y) in enumerate(zip(ids, labels)):
            out["input_ids"][i, width - len(x):] = x
            out["labels"][i, width - len(y):] = y
            out["attention_mask"][i, width - len(x):] = 1
        out["position_ids"] = np.clip(out["attention_mask"].cumsum(-1) - 1, 0, None)
        return {k: torch.from_numpy(v) for k, v in out.items()}


def sft_loss(model, batch: dict) -> torch.Tensor:
    """Mean cross-entropy over answer tokens. Rows are left-padded, so only the last `keep`
    positions need logits: the 49k-wide LM head runs over answers, not over prompts."""
    labels = batch["labels"]
    width = labels.shape[1]
    first = (labels != -100).int().argmax(dim=1)  # first answer position per row
    keep = min(width, int((width - first).max()) + 1)
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                   position_ids=batch["position_ids"], logits_to_keep=keep).logits
    targets = labels[:, width - keep + 1:]
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=-100)


def _lr_lambda(warmup: int, total: int):
    """Linear warm-up, then linear decay to zero at the last step."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def _autocast(device, mode):
    if mode != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def save_checkpoint(d: Path, peft_model, opt, sched, pos: dict, history: list) -> None:
    from peft.utils import get_peft_model_state_dict

    save_file(get_peft_model_state_dict(peft_model), str(d / "adapter_model.safetensors"))
    peft_model.peft_config["default"].save_pretrained(str(d))
    torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "position": pos}, d / STATE_FILE)
    (d / LOG_FILE).write_text("".join(json.dumps(h) + "\n" for h in history))


def load_checkpoint(d: Path, peft_model, opt, sched) -> tuple[dict, list]:
    """Restore adapter, optimizer and scheduler in place; return (position, loss history)."""
    from peft import set_peft_model_state_dict

    set_peft_model_state_dict(peft_model, load_file(str(d / "adapter_model.safetensors")))
    state = torch.load(d / STATE_FILE, weights_only=False)
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    history = [json.loads(line) for line in (d / LOG_FILE).read_text().splitlines()]
    return state["position"], history


def train_loop_per_worker(config: dict) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg = parse_config(config["cfg"])
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    device = ray.train.torch.get_device()
    if device.type == "cpu":
        torch.set_num_threads(cfg.train.threads_per_worker or max(1, (os.cpu_count() or 1) // world))
    torch.manual_seed(cfg.run.seed)

    tok = AutoTokenizer.from_pretrained(config["model_dir"])
    model = apply_method(AutoModelForCausalLM.from_pretrained(config["model_dir"], dtype=torch.float32), cfg.method)
    params = [p for p in model.parameters() if p.requires_grad]
    steps_per_epoch = math.ceil(config["n_train"] / (cfg.train.batch_size * world))
    total = min(steps_per_epoch * cfg.train.epochs, cfg.train.max_steps or 10**12)
    opt = torch.optim.AdamW(params, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg.train.warmup_steps, total))

    pos, history = {"epoch": 0, "step": 0}, []
    checkpoint = ray.train.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as d:
            pos, history = load_checkpoint(Path(d), model, opt, sched)
        if rank == 0:
            print(f"resumed from checkpoint at epoch {pos['epoch']} step {pos['step']}", flush=True)

    model = ray.train.torch.prepare_model(model)
    shard = ray.train.get_dataset_shard("train")
    for epoch in range(pos["epoch"], cfg.train.epochs):
        model.train()
        start, tokens, losses = time.time(), 0, []
        batches = shard.iter_torch_batches(batch_size=cfg.train.batch_size, collate_fn=LeftPadCollate(tok.pad_token_id))
        for batch in batches:
            if pos["step"] >= total:
                break
            batch = {k: v.to(device) for k, v in batch.items()}
            with _autocast(device, cfg.train.mixed_precision):
                loss = sft_loss(model, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.train.grad_clip)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            pos["step"] += 1
            tokens += int(batch["attention_mask"].sum())
            losses.append(loss.item())
            history.append({"step": pos["step"], "epoch": epoch, "loss": losses[-1], "lr": sched.get_last_lr()[0]})
            if rank == 0 and (pos["step"] % cfg.train.log_every == 0 or pos["step"] == total):
                rate = tokens * world / (time.time() - start)
                eta = (total - pos["step"]) * (time.time() - start) / max(1, len(losses))
                print(f"step {pos['step']}/{total} ({100 * pos['step'] // total}%) epoch {epoch} "
                      f"loss {np.mean(losses[-cfg.train.log_every:]):.4f} {rate:.0f} tok/s eta {eta:.0f}s", flush=True)
        pos["epoch"] = epoch + 1
        metrics = {"epoch": epoch, "step": pos["step"], "loss": float(np.mean(losses)) if losses else float("nan"),
                   "tokens_per_s": tokens * world / max(1e-9, time.time() - start)}
        with tempfile.TemporaryDirectory() as d:
            if rank == 0:  # the adapter is replicated: one copy is the checkpoint
                save_checkpoint(Path(d), model.module if hasattr(model, "module") else model, opt, sched, pos, history)
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(d) if rank == 0 else None)
        if pos["step"] >= total:
            break


def build_trainer(cfg: JobConfig, model_dir: Path, train_ds) -> ray.train.torch.TorchTrainer:
    use_gpu = torch.cuda.is_available() if cfg.train.use_gpu == "auto" else cfg.train.use_gpu
    resources = {"CPU": cfg.train.cpus_per_worker} | ({"GPU": 1} if use_gpu else {})
    return ray.train.torch.TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"cfg": cfg.model_dump(), "model_dir": str(model_dir), "n_train": train_ds.count()},
        scaling_config=ray.train.ScalingConfig(num_workers=cfg.train.num_workers, use_gpu=use_gpu, resources_per_worker=resources),
        run_config=ray.train.RunConfig(
            name=f"train-{cfg.train.task}", storage_path=str(cfg.output_dir() / "ray"),  # one Ray Train run per adapter
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=cfg.train.checkpoints_to_keep),
            failure_config=ray.train.FailureConfig(max_failures=cfg.train.max_failures)),
        datasets={"train": train_ds},
    )


def export_adapter(checkpoint_dir: Path, out_dir: Path, meta: dict) -> Path:
    """Copy the final adapter out of the checkpoint as a servable PEFT directory, with the
    run's metadata both in `skutune.json` and in the safetensors header."""
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = load_file(str(checkpoint_dir / "adapter_model.safetensors"))
    save_file(weights, str(out_dir / "adapter_model.safetensors"),
              metadata={"format": "pt", **{k: json.dumps(v) if not isinstance(v, str) else v for k, v in meta.items()}})
    shutil.copy(checkpoint_dir / "adapter_config.json", out_dir / "adapter_config.json")
    shutil.copy(checkpoint_dir / LOG_FILE, out_dir / LOG_FILE)
    (out_dir / "skutune.json").write_text(json.dumps(meta, indent=2))
    return out_dir
