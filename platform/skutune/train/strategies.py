"""How a model is spread over the Ray Train workers, behind one dispatch table.

- ddp: every worker holds the whole model; gradients are averaged (any method).
- fsdp2: `fully_shard` per decoder layer and at the root; each worker holds 1/N of every
  parameter and its optimizer state; checkpoints are torch distributed checkpoints (DCP).
- zero2 / zero3: DeepSpeed ZeRO; stage 2 shards gradients and optimizer state, stage 3 also the
  parameters; checkpoints are DeepSpeed's own.

A strategy owns the model, optimizer and scheduler: `backward(loss, boundary)` per micro-batch
(boundary: the last one of an optimizer step), `step()` per optimizer step (returns the gradient
norm before clipping), `save(dir)` and `load(dir)`. Sharded strategies write one file set per
worker into the same checkpoint directory (Ray Train merges the workers' directories). `consolidate` turns a finished checkpoint into a
plain model state dict on the driver, without a process group.
"""

import math
import shutil
from pathlib import Path

import torch

from skutune.train.methods import get_method, parameter_counts, save_artefact

OPTIM_FILE = "optimizer.pt"


def load_state(path: Path) -> dict:
    """Optimizer and scheduler state from a checkpoint: tensors and plain values only. Anyone who
    can write checkpoint storage could otherwise run code in every worker that resumes from it."""
    return torch.load(path, weights_only=True)


def _schedule(name: str, warmup: int, total: int):
    """The lr factor per optimizer step: transformers.get_scheduler's linear, cosine and
    constant_with_warmup after warm-up, but warm-up counts from the first step (transformers
    starts it at lr 0, a step that trains nothing)."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        if name == "constant_with_warmup":
            return 1.0
        if name == "cosine":
            return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
        return max(0.0, 1.0 - progress)

    return factor


def _optimizer(params, cfg, total: int):
    t = cfg.train
    opt = torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, _schedule(t.lr_scheduler, t.warmup_steps, total))


def deepspeed_config(cfg, stage: int) -> dict:
    """skutune's DeepSpeed config with the user's `train.deepspeed` merged over it (nested keys
    merge: offload settings join zero_optimization; config.py refuses keys skutune owns)."""
    t = cfg.train
    base = {
        "train_micro_batch_size_per_gpu": t.batch_size,
        "gradient_accumulation_steps": t.grad_accum,
        "gradient_clipping": t.grad_clip,
        "zero_optimization": {"stage": stage},
        "zero_allow_untested_optimizer": True,  # torch's AdamW: DeepSpeed's fused Adam needs CUDA
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }
    return _merged(base, t.deepspeed)


def _merged(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class DDP:
    def __init__(self, model, cfg, total: int, device):
        import torch.distributed as dist

        if not getattr(model, "is_loaded_in_4bit", False):  # 4-bit weights are placed when loaded
            model = model.to(device)
        self.cfg, self.module = cfg, model
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.opt, self.sched = _optimizer(self.params, cfg, total)
        self.model = model
        if dist.is_initialized() and dist.get_world_size() > 1:  # Ray Train set up the process group
            self.model = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None
            )

    def backward(self, loss, boundary: bool):
        loss.backward()  # gradients add up across the micro-batches of a step

    def step(self) -> float:
        norm = torch.nn.utils.clip_grad_norm_(self.params, self.cfg.train.grad_clip)
        self.opt.step()
        self.sched.step()
        self.opt.zero_grad(set_to_none=True)
        return float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)  # fsdp2: a DTensor

    def lr(self) -> float:
        return self.sched.get_last_lr()[0]

    def local_parameters(self) -> int:
        return parameter_counts(self.module)["total"]  # every replica holds all of them (4-bit counted unpacked)

    def save(self, d: Path, rank: int) -> None:
        """The method's artefact plus optimizer state, from rank 0 (every replica is the same)."""
        if rank == 0:
            save_artefact(self.module, d, self.cfg.method)
            torch.save({"optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict()}, d / OPTIM_FILE)

    def load(self, d: Path):
        get_method(self.cfg.method.name).restore(self.module, d)
        state = load_state(d / OPTIM_FILE)
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])


class FSDP2(DDP):
    def __init__(self, model, cfg, total: int, device):
        import torch.distributed as dist
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        self.cfg, self.module = cfg, model.to(device)
        mesh = init_device_mesh(device.type, (dist.get_world_size(),))
        for layer in model.model.layers:
            fully_shard(layer, mesh=mesh)
        self.model = fully_shard(model, mesh=mesh)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.opt, self.sched = _optimizer(self.params, cfg, total)

    def local_parameters(self) -> int:
        return sum(p.to_local().numel() for p in self.module.parameters())

    def _state(self) -> dict:
        from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_optimizer_state_dict

        return {"model": get_model_state_dict(self.model), "optim": get_optimizer_state_dict(self.model, self.opt)}

    def save(self, d: Path, rank: int) -> None:
        import torch.distributed.checkpoint as dcp

        dcp.save(self._state(), checkpoint_id=str(d / "dcp"))  # every rank writes its shard
        if rank == 0:
            torch.save({"scheduler": self.sched.state_dict()}, d / OPTIM_FILE)

    def load(self, d: Path):
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import set_model_state_dict, set_optimizer_state_dict

        state = self._state()
        dcp.load(state, checkpoint_id=str(d / "dcp"))
        set_model_state_dict(self.model, state["model"])
        set_optimizer_state_dict(self.model, self.opt, state["optim"])
        self.sched.load_state_dict(load_state(d / OPTIM_FILE)["scheduler"])


class DeepSpeedZero(DDP):
    TAG = "zero"

    def __init__(self, model, cfg, total: int, device, stage: int):
        import deepspeed
        import deepspeed.ops

        # DeepSpeed JIT-compiles a CPU shared-memory all-reduce when it sets up its comm backend (80-90 s of g++ on
        # a machine's first ZeRO job). Only its tensor-parallel inference calls that op; training's collectives go
        # through torch.distributed, so the build is skipped. The probe's dict is cached and meant to be edited.
        deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False
        self.cfg, self.module, self.stage = cfg, model, stage
        config = deepspeed_config(cfg, stage)
        opt, sched = _optimizer([p for p in model.parameters() if p.requires_grad], cfg, total)
        self.model, self.opt, _, self.sched = deepspeed.initialize(
            model=model, optimizer=opt, lr_scheduler=sched, config=config, dist_init_required=False
        )

    def backward(self, loss, boundary: bool):
        self.model.backward(loss, scale_wrt_gas=False)  # the loss is already normalised by target tokens
        if not boundary:
            self.model.step()  # DeepSpeed counts micro-steps; it updates only at the accumulation boundary

    def step(self) -> float:
        self.model.step()  # clips, steps optimizer and scheduler, zeroes gradients
        return float(self.model.get_global_grad_norm() or 0.0)

    def local_parameters(self) -> int:
        if self.stage == 3:
            return sum(p.ds_tensor.numel() for p in self.module.parameters())
        return super().local_parameters()

    def save(self, d: Path, rank: int) -> None:
        self.model.save_checkpoint(str(d), tag=self.TAG)  # every rank writes its partition

    def load(self, d: Path):
        self.model.load_checkpoint(str(d), tag=self.TAG)


STRATEGIES = {
    "ddp": DDP,
    "fsdp2": FSDP2,
    "zero2": lambda model, cfg, total, device: DeepSpeedZero(model, cfg, total, device, stage=2),
    "zero3": lambda model, cfg, total, device: DeepSpeedZero(model, cfg, total, device, stage=3),
}


def consolidate(checkpoint_dir: Path, strategy: str, model) -> dict:
    """A sharded (fsdp2 / zero2 / zero3) checkpoint as one state dict of `model`'s keys."""
    checkpoint_dir = Path(checkpoint_dir)
    if strategy == "fsdp2":
        import torch.distributed.checkpoint as dcp

        state = {
            k: v for k, v in model.state_dict().items() if k != "lm_head.weight" or not model.config.tie_word_embeddings
        }
        dcp.load({"model": state}, checkpoint_id=str(checkpoint_dir / "dcp"), no_dist=True)
        return state
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

    return get_fp32_state_dict_from_zero_checkpoint(str(checkpoint_dir), tag=DeepSpeedZero.TAG)


def checkpoint_to_artefact(checkpoint_dir: Path, out_dir: Path, cfg, model_dir) -> Path:
    """The final checkpoint as a loadable artefact directory (see methods.load_tuned)."""
    from skutune.train.methods import build_model

    out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.train.strategy == "ddp":  # the checkpoint already is the artefact, plus optimizer state
        for f in Path(checkpoint_dir).iterdir():
            if f.is_file() and f.name != OPTIM_FILE and not f.name.startswith("ledger-"):
                shutil.copy(f, out_dir / f.name)
        return out_dir
    model = build_model(model_dir, cfg.method)
    model.load_state_dict(consolidate(checkpoint_dir, cfg.train.strategy, model), strict=False)
    model.tie_weights()
    return save_artefact(model, out_dir, cfg.method)


def steps_total(n_rows: int, cfg, world: int) -> int:
    """Optimizer steps of the run: rows (examples, or packed rows) over rows per step, per epoch."""
    per_step = cfg.train.batch_size * cfg.train.grad_accum * world
    return min(math.ceil(n_rows / per_step) * cfg.train.epochs, cfg.train.max_steps or 10**12)
