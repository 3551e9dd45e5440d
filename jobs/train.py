"""Train: the config's method (LoRA by default) and strategy on the curated Parquet with Ray Train's TorchTrainer.

    python jobs/train.py --config jobs/configs/demo.yaml
    ray job submit --working-dir . -- python jobs/train.py --config jobs/configs/demo.yaml

Rerunning with the same run name resumes from the run's latest checkpoint; a lost worker or node
restarts the run from it too (train.max_failures). Params, per-step metrics, the loss curve
(runs/<name>/loss_curve_<task>.png) and the adapter's metadata go to MLflow and TensorBoard (tracking.py).
"""

import json
from pathlib import Path


from skutune.cli import job_args, setup
from skutune.cluster import init_ray
from skutune.model_import import resolve_model_dir
from skutune.tracking import Tracker, loss_curve
from skutune.train import LOG_FILE, build_trainer, export_artefact, training_dataset

cfg = setup(job_args(__doc__))  # config is validated here, before Ray starts
run_dir = cfg.output_dir()
manifest_path = run_dir / "data" / "manifest.json"
if not manifest_path.exists():
    raise SystemExit(f"no curated data at {manifest_path.parent}: run jobs/curate.py --config <same config> first")
manifest = json.loads(manifest_path.read_text())
model_dir = resolve_model_dir(cfg.model)

init_ray(cfg.train.num_workers * cfg.train.cpus_per_worker)
train_ds = training_dataset(cfg)
trainer = build_trainer(cfg, model_dir, train_ds)
result = trainer.fit()

with result.checkpoint.as_directory() as ckpt:
    meta = {"base_model": str(model_dir), "strategy": cfg.train.strategy, "task": cfg.train.task, "target": cfg.train.target,
            "data_manifest_hash": manifest["hash"], "metrics": result.metrics or {}, "run": cfg.run.name}
    adapter = export_artefact(Path(ckpt), cfg.adapter_dir(cfg.train.task), cfg, model_dir, meta)
    history = [json.loads(line) for line in (Path(ckpt) / LOG_FILE).read_text().splitlines()]
curve = loss_curve(history, run_dir / f"loss_curve_{cfg.train.task}.png", f"{cfg.run.name}: {cfg.train.task} ({cfg.method.name}, {cfg.train.strategy})")
with Tracker(cfg, f"train-{cfg.train.task}") as track:
    track.steps(history)
    track.metrics(result.metrics or {}, step=history[-1]["step"] if history else 0, prefix="final/")
    track.metrics({"resumes_from_checkpoint": sum("resumed_at" in h for h in history)})
    for path in (curve, adapter / "skutune.json", adapter / LOG_FILE):
        track.artifact(path)
print(f"final metrics: {json.dumps(result.metrics)}")
print(f"adapter: {adapter}\nloss curve: {curve}")
