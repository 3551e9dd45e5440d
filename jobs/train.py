"""Train: the config's method (LoRA by default) and strategy on the curated Parquet with Ray Train's TorchTrainer.

    python jobs/train.py --config jobs/configs/demo.yaml
    ray job submit --working-dir . -- python jobs/train.py --config jobs/configs/demo.yaml

Rerunning with the same run name resumes from the run's latest checkpoint.
"""

import json
from pathlib import Path


from skutune.cli import job_args, setup
from skutune.cluster import init_ray
from skutune.model_import import resolve_model_dir
from skutune.train import build_trainer, export_artefact, training_dataset

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
print(f"final metrics: {json.dumps(result.metrics)}")
print(f"adapter: {adapter}")
