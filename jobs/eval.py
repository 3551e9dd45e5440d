"""Evaluate: base model vs tuned adapter vs BM25 vs dense retrieval on the held-out test set.

    python jobs/eval.py --config jobs/configs/demo.yaml

Writes runs/<name>/eval.json, eval.md (tables) and predictions.jsonl (every answer, scored).
"""

from skutune.cli import job_args, setup
from skutune.model_import import resolve_model_dir

cfg = setup(job_args(__doc__))  # config is validated here, before any model loads
model_dir = resolve_model_dir(cfg.model)
adapter_dir = cfg.output_dir() / "adapters" / cfg.train.task
if "tuned" in cfg.eval.systems and not (adapter_dir / "adapter_config.json").exists():
    raise SystemExit(f"no adapter at {adapter_dir}: run jobs/train.py --config <same config> first")

from skutune.evaluate import run_eval  # noqa: E402  (heavy imports after the config check)

report = run_eval(cfg, model_dir, adapter_dir)
print((cfg.output_dir() / "eval.md").read_text())
