"""The Ray Train side of SFT: the per-worker entry, the trainer, and the artefact export.

Each worker runs skutune's loop (loop.py): it builds the model with the config's method (methods/), hands it to the config's
strategy (strategies.py: ddp, fsdp2, zero2, zero3), reads its shard with `get_dataset_shard`,
and at every epoch end (and every `train.checkpoint_every_steps`) reports a checkpoint (the
strategy's state + the position and loss log). A rerun under the same run name finds the run's
checkpoints in storage and resumes; so does Ray Train itself when a worker or its node is lost
(`train.max_failures`): the run restarts from the latest checkpoint.

Each worker also keeps a ledger in the checkpoint: per epoch, its node and a fingerprint of every
row it trained on. A run resumed from a step checkpoint skips the rows the cut epoch already
trained, and a restarted run can show that no example was skipped or seen twice.
"""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import ray
import ray.train
import ray.train.torch
from ray.train.v2._internal.callbacks.placement_group_callback import PlacementGroupCleanerCallback
from safetensors.torch import load_file, save_file

from skutune.config import JobConfig, parse_config
from skutune.runtime.cluster import has_dashboard
from skutune.train.batches import pack_dataset
from skutune.train.loop import LOG_FILE, POSITION_FILE, fingerprint, load_ledgers, run_loop
from skutune.train.methods import META_FILE
from skutune.train.speed import choose
from skutune.train.strategies import checkpoint_to_artefact

# the loop's files and ledger, named where the Ray side's callers (tests, pipeline) look for them
__all__ = ["LOG_FILE", "POSITION_FILE", "fingerprint", "load_ledgers", "build_trainer", "publish_checkpoint"]


def train_loop_per_worker(config: dict) -> None:
    """Ray Train's entry on each worker: the shared loop fed by this worker's dataset shard."""
    from skutune.runtime.tracking import StepLogger

    cfg = parse_config(config["cfg"])
    ctx = ray.train.get_context()
    live = config.get("live") and ctx.get_world_rank() == 0
    shard = ray.train.get_dataset_shard("train")
    val = ray.train.get_dataset_shard("val") if cfg.train.val_fraction else None
    logger = StepLogger(cfg, **config["live"]) if live else None
    try:
        run_loop(
            cfg,
            config["model_dir"],
            config["n_rows"],
            ctx.get_world_rank(),
            ctx.get_world_size(),
            ray.train.torch.get_device(),
            lambda collate: shard.iter_torch_batches(batch_size=cfg.train.batch_size, collate_fn=collate),
            ray.train.get_checkpoint(),
            lambda metrics, d: ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(d)),
            ray.get_runtime_context().get_node_id(),
            val and (lambda collate: val.iter_torch_batches(batch_size=cfg.train.batch_size, collate_fn=collate)),
            logger,
        )
    finally:
        if logger:
            logger.close()  # sends what is still queued


def training_dataset(cfg: JobConfig) -> ray.data.Dataset:
    """The curated, tokenized rows of the config's target, restricted to its slice."""
    ds = ray.data.read_parquet(cfg.shared(cfg.run_dir().train(cfg.train.target)))  # in the bucket with the run
    if cfg.train.slice != type(cfg.train.slice)():
        ds = ds.filter(cfg.train.slice.selects)
    if cfg.train.packing:
        ds = pack_dataset(ds.select_columns(["input_ids", "labels"]), cfg.train.pack_length, seed=cfg.run.seed)
    return ds


def with_speed(cfg: JobConfig) -> JobConfig:
    """The config with `train.speed: auto` resolved on this run's training data (speed.choose) and
    the choice printed; any other config as it is."""
    if cfg.train.speed != "auto":
        return cfg
    lengths = (
        training_dataset(cfg)
        .map_batches(lambda b: {"n": np.array([len(x) for x in b["input_ids"]])}, batch_format="numpy")
        .materialize()
    )
    cfg, line = choose(cfg, lengths.count(), int(lengths.sum("n") or 0))
    print(line, flush=True)
    return cfg


def storage_path(cfg: JobConfig) -> str:
    """Where Ray Train keeps the run's checkpoints: `train.storage` (a path or a pyarrow URI), else
    <run>/ray, in object storage when the run is (run.output_dir a URI)."""
    remote = cfg.remote_dir()
    return cfg.train.storage or (f"{remote}/ray" if remote else str(cfg.run_dir().ray))


class Trainer(ray.train.torch.TorchTrainer):
    """Ray's TorchTrainer, without its placement-group cleaner where Ray runs no dashboard. The
    cleaner is an actor that asks the state API every second whether the controller lives, to
    free the workers' placement group if it died; without the dashboard each ask waits 40 s for
    an answer that never comes, so the cleaner can free nothing, and every fit ended waiting 15 s
    for it to stop (measured here: a 3-step tiny fit took 41 s, 15 of them after the checkpoint).
    The placement group is still freed when the driver exits."""

    def _create_default_callbacks(self):
        callbacks = super()._create_default_callbacks()
        if has_dashboard():
            return callbacks
        return [c for c in callbacks if not isinstance(c, PlacementGroupCleanerCallback)]


def build_trainer(cfg: JobConfig, model_dir: Path, train_ds, live: dict | None = None) -> Trainer:
    """Ray Train's trainer for the config; `live` (Tracker.live()) logs the curve as it trains."""
    # auto: the workers take GPUs when the cluster has them (not when the driver's node does:
    # on a cluster the driver runs on the CPU head)
    use_gpu = ray.cluster_resources().get("GPU", 0) > 0 if cfg.train.use_gpu == "auto" else cfg.train.use_gpu
    resources = {"CPU": cfg.train.cpus_per_worker} | ({"GPU": 1} if use_gpu else {})
    train_ds = train_ds.materialize()  # run the read, slice and packing once, not once to count and again to train
    datasets = {"train": train_ds}
    if cfg.train.val_fraction:  # seeded: a rerun that resumes holds out the same rows
        datasets["train"], datasets["val"] = train_ds.train_test_split(
            cfg.train.val_fraction, shuffle=True, seed=cfg.run.seed
        )
    return Trainer(
        train_loop_per_worker,
        train_loop_config={
            "cfg": cfg.model_dump(),
            "model_dir": str(model_dir),
            "n_rows": datasets["train"].count(),
            "live": live,
        },
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
        datasets=datasets,
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
