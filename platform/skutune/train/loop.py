"""skutune's training loop, free of Ray: the epoch loop with its checkpoints, position, loss log
and row ledger, and the memory probes. Ray Train runs it on each worker (trainer.py); the training
benchmark and the GPU check (jobs/gpu_check.py, on machines without Ray) run it in-process.
"""

import contextlib
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from skutune.config import JobConfig
from skutune.runtime.paths import load_jsonl, write_jsonl
from skutune.train.batches import collate_for, runs_eagerly
from skutune.train.methods import build_model, parameter_counts
from skutune.train.step import apply_speedups, distributed, train_step, uses_bf16, validation_loss
from skutune.train.strategies import STRATEGIES, steps_total

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


def run_loop(
    cfg: JobConfig,
    model_dir,
    n_rows: int,
    rank: int,
    world: int,
    device,
    batches,
    checkpoint,
    report,
    node: str = "local",
    val_batches=None,
    on_step=None,
) -> None:
    """The training loop: `batches(collate)` yields this worker's micro-batches for one epoch,
    `report(metrics, checkpoint_dir)` receives each epoch's metrics and checkpoint directory,
    `checkpoint` is the one to resume from (or None), `node` names the machine in the ledger,
    `val_batches(collate)` this worker's validation rows (with `train.val_every_steps`), and
    `on_step(entry)` each step's log entry as the step ends (live tracking; rank 0 passes it).
    Ray Train passes its shard and its report (trainer.py); jobs/bench_train.py and
    jobs/gpu_check.py run the same loop without Ray."""
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

    pos, history, ledger, resumed_at, done = {"epoch": 0, "step": 0}, [], {}, None, set()
    if checkpoint:
        with checkpoint.as_directory() as d:
            strategy.load(Path(d))
            pos, history = _load_position(Path(d))
            ledgers = load_ledgers(Path(d))
        ledger, resumed_at = ledgers.get(rank, {}), pos["step"]
        if pos.pop("mid_epoch", False):  # what any rank trained before the cut is not trained again
            done = {fp for r in ledgers.values() for fp in r.get(str(pos["epoch"]), {}).get("rows", [])}
        if rank == 0:
            print(
                f"resumed from checkpoint at epoch {pos['epoch']} step {pos['step']}"
                + (f", skipping the {len(done)} rows the epoch already trained" if done else ""),
                flush=True,
            )

    collate, save_every = collate_for(cfg, tok.pad_token_id), cfg.train.checkpoint_every_steps
    for epoch in range(pos["epoch"], cfg.train.epochs):
        strategy.model.train()
        reset_peak_memory(device)
        start, losses, steps, waited = time.time(), [], [], 0.0  # steps: (seconds, tokens) each
        last, seen = start, list(ledger.get(str(epoch), {}).get("rows", [])) if done else []
        windows = _epoch_windows(batches(collate), cfg.train.grad_accum, done, tok.pad_token_id, device)
        for window, ends_epoch in _with_last(windows):
            waited += time.time() - last  # for the data: the iterator (Ray Data's shard under Ray Train)
            if pos["step"] >= total:
                break
            seen += [
                fingerprint(row, tok.pad_token_id)
                for b in window
                for row, real in zip(b["input_ids"].numpy(), b["real_tokens"].tolist())
                if real  # not a blank (_in_step)
            ]
            eager = torch.compiler.set_stance("force_eager") if runs_eagerly(cfg, window) else contextlib.nullcontext()
            with eager:
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
            every = cfg.train.val_every_steps
            if val_batches and (pos["step"] % every == 0 or pos["step"] == total):
                history[-1]["val_loss"] = validation_loss(
                    strategy, val_batches(collate), device, cfg.train.mixed_precision
                )
                if rank == 0:
                    print(f"step {pos['step']}/{total} val_loss {history[-1]['val_loss']:.4f}", flush=True)
                last = time.time()  # the next step's seconds are its own
            if on_step:
                on_step(history[-1])
            if rank == 0 and (pos["step"] % cfg.train.log_every == 0 or pos["step"] == total):
                rate = sum(n for _, n in steps) * world / (time.time() - start)
                eta = (total - pos["step"]) * (time.time() - start) / max(1, len(losses))
                print(
                    f"step {pos['step']}/{total} ({100 * pos['step'] // total}%) epoch {epoch} "
                    f"loss {np.mean(losses[-cfg.train.log_every :]):.4f} {rate:.0f} tok/s eta {eta:.0f}s",
                    flush=True,
                )
            if save_every and pos["step"] % save_every == 0 and not ends_epoch and pos["step"] < total:
                ledger[str(epoch)] = {"node": node, "rows": seen}
                mid = {"epoch": epoch, "step": pos["step"], "loss": float(np.mean(losses)), "mid_epoch": True}
                _checkpoint(strategy, rank, ledger, {**pos, "mid_epoch": True}, history, mid, report)
                last = time.time()
        pos["epoch"], done = epoch + 1, set()
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
            "data_wait_seconds": waited,
            # without the epoch's first step (warm-up, compilation, the data pipeline's start)
            "steady_tokens_per_s": world * sum(n for _, n in steps[1:]) / max(1e-9, sum(t for t, _ in steps[1:])),
            "trainable_params": counts["trainable"],
            "total_params": counts["total"],
            "local_params_fraction": local / counts["total"],
            "peak_memory_bytes": peak,
            "peak_above_start_bytes": peak - baseline,
        }
        validated = [h["val_loss"] for h in history if "val_loss" in h]
        if validated:
            metrics["val_loss"] = validated[-1]
        ledger[str(epoch)] = {"node": node, "rows": seen}
        _checkpoint(strategy, rank, ledger, pos, history, metrics, report)
        if pos["step"] >= total:
            break


def _checkpoint(strategy, rank: int, ledger: dict, pos: dict, history: list, metrics: dict, report) -> None:
    with tempfile.TemporaryDirectory() as d:
        strategy.save(Path(d), rank)  # ddp: rank 0 only; sharded: every rank its part
        (Path(d) / LEDGER_FILE.format(rank=rank)).write_text(json.dumps(ledger))
        if rank == 0:
            _save_position(Path(d), pos, history)
        # Ray Train registers the checkpoint only once every rank's files are in storage: a run
        # that dies while writing one resumes from the one before (tests/integration/test_train.py)
        report(metrics, Path(d))


def _epoch_windows(batches, size: int, done: set, pad_id: int, device):
    """One epoch's optimizer steps (groups of micro-batches). In an epoch resumed from a step
    checkpoint, `done` holds the fingerprints of the rows any rank trained before the cut: they are
    left out, whichever rank Ray's split hands them to now, and the ranks are kept in step."""
    if not done:
        return _windows(batches, size)
    first: list = []
    windows = _windows(_untrained(batches, done, pad_id, first), size)
    if not distributed():
        return windows
    return _in_step(windows, first, device, pad_id)


def _untrained(batches, done: set, pad_id: int, first: list):
    """The batches without the rows in `done` (a batch left empty is dropped); the first batch as
    it came is kept in `first`, the shape of a blank."""
    for batch in batches:
        if not first:
            first.append(batch)
        keep = [i for i, row in enumerate(batch["input_ids"].numpy()) if fingerprint(row, pad_id) not in done]
        if keep:
            yield {k: v[keep] for k, v in batch.items()}


def _in_step(windows, first: list, device, pad_id: int):
    """Every rank runs the same micro-batches and steps, as DDP's and the sharded strategies'
    collectives need, though skipping left the ranks uneven rows: a rank whose rows run out first
    trains blanks (one row, no target or real tokens: no gradient, no loss) until all are done.
    A rank that was handed no batch at all (fewer rows left than ranks) blanks with one pad token."""
    windows = iter(windows)
    while True:
        window = next(windows, None)  # fills `first` (_untrained) on its first call
        state = torch.tensor([len(window or []), window is not None], dtype=torch.int64, device=device)
        dist.all_reduce(state, op=dist.ReduceOp.MAX)
        if not state[1]:
            return
        window = window or []
        template = first[0] if first else _one_pad(pad_id)
        yield window + [_blank(template) for _ in range(int(state[0]) - len(window))]


def _one_pad(pad_id: int) -> dict:
    """A batch of one pad token in either layout (padded rows read the mask, packed rows the positions)."""
    one = torch.tensor([[pad_id]], dtype=torch.int64)
    return {
        "input_ids": one,
        "labels": one.clone(),
        "attention_mask": torch.ones_like(one),
        "position_ids": torch.zeros_like(one),
        "real_tokens": torch.ones(1, dtype=torch.int64),
    }


def _blank(batch: dict) -> dict:
    one = {k: v[:1].clone() for k, v in batch.items()}
    one["labels"].fill_(-100)
    one["real_tokens"].zero_()
    return one


def _with_last(items):
    """(item, is it the last) pairs, one item ahead: a step checkpoint is not written at an epoch's
    last step, where the epoch's own follows."""
    items, end = iter(items), object()
    item = next(items, end)
    while item is not end:
        following = next(items, end)
        yield item, following is end
        item = following


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
