"""The Ray Train side of SFT: the per-worker loop, the trainer, and the artefact export.

Each worker builds the model with the config's method (methods/), hands it to the config's
strategy (strategies.py: ddp, fsdp2, zero2, zero3), reads its shard with `get_dataset_shard`,
and at every epoch end reports a checkpoint (the strategy's state + the position and loss log).
A rerun under the same run name finds the run's checkpoints in storage and resumes; so does Ray
Train itself when a worker or its node is lost (`train.max_failures`): the run restarts from the
latest checkpoint, redoing only the epoch that was cut short.

Each worker also keeps a ledger in the checkpoint: per epoch, its node and a fingerprint of every
row it trained on, so a restarted run can show that no example was skipped or seen twice.
"""

import contextlib
import hashlib
import json
import logging
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
from safetensors.torch import load_file, save_file

from skutune.config import JobConfig, parse_config
from skutune.runtime.paths import load_jsonl, write_jsonl
from skutune.train.batches import collate_for, pack_dataset
from skutune.train.methods import META_FILE, build_model, parameter_counts
from skutune.train.step import apply_speedups, train_step, uses_bf16
from skutune.train.strategies import STRATEGIES, checkpoint_to_artefact, steps_total

log = logging.getLogger(__name__)
POSITION_FILE = "position.json"
LOG_FILE = "train_log.jsonl"
LEDGER_FILE = "ledger-rank{rank}.json"


def fingerprint(input_ids, pad_id: int) -> str:
    """A training row's identity, whatever padding its batch gave it."""
    ids = np.asarray(input_ids, dtype=np.int64)
    return hashlib.blake2b(ids[ids != pad_id].tobytes(), digest_size=8).hexdigest()


def load_ledgers(checkpoint_dir: Path) -> dict[int, dict]:
    """Every rank's ledger in a checkpoint: {rank: {epoch: {"node": id, "rows": [fingerprint, ...]}}}."""
    return {
        int(p.stem.split("rank")[1]): json.loads(p.read_text()) for p in Path(checkpoint_dir).glob("ledger-rank*.json")
    }


def _save_position(d: Path, pos: dict, history: list) -> None:
    (d / POSITION_FILE).write_text(json.dumps(pos))
    write_jsonl(d / LOG_FILE, history)


def _load_position(d: Path) -> tuple[dict, list]:
    history = load_jsonl(d / LOG_FILE)
    return json.loads((d / POSITION_FILE).read_text()), history


def train_loop_per_worker(config: dict) -> None:
    """Ray Train's entry on each worker: the shared loop fed by this worker's dataset shard."""
    cfg = parse_config(config["cfg"])
    ctx = ray.train.get_context()
    shard = ray.train.get_dataset_shard("train")
    run_loop(
        cfg,
        config["model_dir"],
        config["n_rows"],
        ctx.get_world_rank(),
        ctx.get_world_size(),
        ray.train.torch.get_device(),
        lambda collate: shard.iter_torch_batches(batch_size=cfg.train.batch_size, collate_fn=collate),
        ray.train.get_checkpoint(),
        ray.train.report,
    )


def run_loop(
    cfg: JobConfig, model_dir, n_rows: int, rank: int, world: int, device, batches, checkpoint, report
) -> None:
    """The training loop: `batches(collate)` yields this worker's micro-batches for one epoch,
    `report(metrics, checkpoint=...)` receives each epoch's metrics and checkpoint. Ray Train
    passes its shard and `ray.train.report`; jobs/bench_train.py runs the same loop without Ray."""
    from transformers import AutoTokenizer

    if device.type == "cpu":
        torch.set_num_threads(cfg.train.threads_per_worker or max(1, (os.cpu_count() or 1) // world))
    torch.manual_seed(cfg.run.seed)

    tok = AutoTokenizer.from_pretrained(model_dir)
    baseline = current_memory(device)  # before the model: what its weights, optimizer and activations add
    model = apply_speedups(build_model(model_dir, cfg.method), cfg, device)
    counts = parameter_counts(model)
    total = steps_total(n_rows, cfg, world)
    strategy = STRATEGIES[cfg.train.strategy](model, cfg, total, device)
    local = strategy.local_parameters()
    if rank == 0:
        print(
            f"method {cfg.method.name} strategy {cfg.train.strategy}: {counts['trainable']:,} of {counts['total']:,} "
            f"parameters train ({counts['trainable_pct']:.3f}%); this worker holds {local:,}; "
            f"bf16 autocast: {'on' if uses_bf16(device, cfg.train.mixed_precision) else 'off'} "
            f"(mixed_precision {cfg.train.mixed_precision})",
            flush=True,
        )

    pos, history, ledger, resumed_at = {"epoch": 0, "step": 0}, [], {}, None
    if checkpoint:
        with checkpoint.as_directory() as d:
            strategy.load(Path(d))
            pos, history = _load_position(Path(d))
            ledger = load_ledgers(Path(d)).get(rank, {})
        resumed_at = pos["step"]
        if rank == 0:
            print(f"resumed from checkpoint at epoch {pos['epoch']} step {pos['step']}", flush=True)

    collate = collate_for(cfg, tok.pad_token_id)
    node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else "local"
    for epoch in range(pos["epoch"], cfg.train.epochs):
        strategy.model.train()
        reset_peak_memory(device)
        start, losses, steps = time.time(), [], []  # steps: (seconds, tokens) each
        last, seen = start, []
        for window in _windows(batches(collate), cfg.train.grad_accum):
            if pos["step"] >= total:
                break
            seen += [fingerprint(row, tok.pad_token_id) for b in window for row in b["input_ids"].numpy()]
            out = train_step(
                strategy,
                [{k: v.to(device) for k, v in b.items()} for b in window],
                world,
                device,
                cfg.train.mixed_precision,
            )
            pos["step"] += 1
            losses.append(out["loss"])
            steps.append((time.time() - last, out["tokens"]))  # seconds include waiting for the data
            last = time.time()
            history.append(
                {
                    "step": pos["step"],
                    "epoch": epoch,
                    "lr": strategy.lr(),
                    "seconds": steps[-1][0],
                    **out,
                    **({"resumed_at": resumed_at} if resumed_at is not None else {}),
                }
            )
            resumed_at = None
            if rank == 0 and (pos["step"] % cfg.train.log_every == 0 or pos["step"] == total):
                rate = sum(n for _, n in steps) * world / (time.time() - start)
                eta = (total - pos["step"]) * (time.time() - start) / max(1, len(losses))
                print(
                    f"step {pos['step']}/{total} ({100 * pos['step'] // total}%) epoch {epoch} "
                    f"loss {np.mean(losses[-cfg.train.log_every :]):.4f} {rate:.0f} tok/s eta {eta:.0f}s",
                    flush=True,
                )
        pos["epoch"] = epoch + 1
        seconds, tokens, peak = (
            max(1e-9, time.time() - start),
            sum(n for _, n in steps),
            peak_memory(device),
        )  # before saving
        metrics = {
            "epoch": epoch,
            "step": pos["step"],
            "loss": float(np.mean(losses)) if losses else float("nan"),
            "tokens_per_s": tokens * world / seconds,
            "tokens": tokens * world,
            "train_seconds": seconds,
            # without the epoch's first step (warm-up, compilation, the data pipeline's start)
            "steady_tokens_per_s": world * sum(n for _, n in steps[1:]) / max(1e-9, sum(t for t, _ in steps[1:])),
            "trainable_params": counts["trainable"],
            "total_params": counts["total"],
            "local_params_fraction": local / counts["total"],
            "peak_memory_bytes": peak,
            "peak_above_start_bytes": peak - baseline,
        }
        ledger[str(epoch)] = {"node": node, "rows": seen}
        with tempfile.TemporaryDirectory() as d:
            strategy.save(Path(d), rank)  # ddp: rank 0 only; sharded: every rank its part
            (Path(d) / LEDGER_FILE.format(rank=rank)).write_text(json.dumps(ledger))
            if rank == 0:
                _save_position(Path(d), pos, history)
            # Ray Train registers the checkpoint only once every rank's files are in storage: a run
            # that dies while writing one resumes from the one before (tests/integration/test_train.py)
            report(metrics, checkpoint=ray.train.Checkpoint.from_directory(d))
        if pos["step"] >= total:
            break


def _windows(batches, size: int):
    """Micro-batches grouped into optimizer steps (the epoch's last group may be shorter)."""
    window = []
    for batch in batches:
        window.append(batch)
        if len(window) == size:
            yield window
            window = []
    if window:
        yield window


def reset_peak_memory(device) -> None:
    """Start a new peak: the training steps' own, not model loading's or checkpoint saving's."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        # glibc keeps memory freed while loading (a 4-bit base is quantised from fp32) in the
        # process: hand it back first, so the new peak starts from what is live
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        Path("/proc/self/clear_refs").write_text("5")  # Linux: resets the process's peak RSS (VmHWM)


def peak_memory(device) -> int:
    """Peak bytes since the last reset: CUDA's allocator peak on GPU, the process's peak RSS on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return _proc_status_bytes("VmHWM:")


def current_memory(device) -> int:
    """Bytes held now: CUDA's allocated memory, or the process's RSS (runtime and libraries included)."""
    if device.type == "cuda":
        return torch.cuda.memory_allocated(device)
    return _proc_status_bytes("VmRSS:")


def _proc_status_bytes(field: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # not Linux: the lifetime peak


def training_dataset(cfg: JobConfig) -> ray.data.Dataset:
    """The curated, tokenized rows of the config's target, restricted to its slice."""
    ds = ray.data.read_parquet(str(cfg.run_dir().train(cfg.train.target)))
    if cfg.train.slice != type(cfg.train.slice)():
        ds = ds.filter(cfg.train.slice.selects)
    if cfg.train.packing:
        ds = pack_dataset(ds.select_columns(["input_ids", "labels"]), cfg.train.pack_length)
    return ds


def storage_path(cfg: JobConfig) -> str:
    """Where Ray Train keeps the run's checkpoints: `train.storage` (a path or a pyarrow URI) or <run>/ray."""
    return cfg.train.storage or str(cfg.run_dir().ray)


def build_trainer(cfg: JobConfig, model_dir: Path, train_ds) -> ray.train.torch.TorchTrainer:
    # auto: the workers take GPUs when the cluster has them (not when the driver's node does:
    # on a cluster the driver runs on the CPU head)
    use_gpu = ray.cluster_resources().get("GPU", 0) > 0 if cfg.train.use_gpu == "auto" else cfg.train.use_gpu
    resources = {"CPU": cfg.train.cpus_per_worker} | ({"GPU": 1} if use_gpu else {})
    train_ds = train_ds.materialize()  # run the read, slice and packing once, not once to count and again to train
    return ray.train.torch.TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"cfg": cfg.model_dump(), "model_dir": str(model_dir), "n_rows": train_ds.count()},
        scaling_config=ray.train.ScalingConfig(
            num_workers=cfg.train.num_workers,
            use_gpu=use_gpu,
            resources_per_worker=resources,
            placement_strategy=cfg.train.placement_strategy,
        ),
        run_config=ray.train.RunConfig(
            # one Ray Train run per adapter, method and strategy: a rerun resumes only a compatible checkpoint
            name=f"train-{cfg.train.task}-{cfg.method.name}-{cfg.train.strategy}",
            storage_path=storage_path(cfg),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=cfg.train.checkpoints_to_keep),
            failure_config=ray.train.FailureConfig(max_failures=cfg.train.max_failures),
        ),
        datasets={"train": train_ds},
    )


def publish_checkpoint(checkpoint_dir: Path, out_dir: Path, cfg: JobConfig, model_dir, meta: dict) -> Path:
    """The final checkpoint as a servable artefact (any method, any strategy), with the run's
    metadata both in `skutune.json` and in the weights' safetensors header. It is written beside
    `out_dir` and renamed into place, so a reader (the Serve registry) never sees half of it."""
    final = Path(out_dir)
    staging = final.with_name(f".{final.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    out_dir = checkpoint_to_artefact(Path(checkpoint_dir), staging, cfg, model_dir)
    meta_path = out_dir / META_FILE
    meta = {**meta, **json.loads(meta_path.read_text())}
    meta_path.write_text(json.dumps(meta, indent=2))
    header = {"format": "pt", **{k: json.dumps(v) if not isinstance(v, str) else v for k, v in meta.items()}}
    for weights in out_dir.glob("*.safetensors"):
        save_file(load_file(str(weights)), str(weights), metadata=header)
    if (Path(checkpoint_dir) / LOG_FILE).exists():
        shutil.copy(Path(checkpoint_dir) / LOG_FILE, out_dir / LOG_FILE)
    if final.exists():  # a retrained adapter: swap the whole directory, then drop the old one
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        final.rename(old)
        staging.rename(final)
        shutil.rmtree(old)
    else:
        staging.rename(final)
    return final
