"""Curate: catalog + labelled examples -> validated, deduplicated, tokenized Parquet.

    python jobs/curate.py --config jobs/configs/demo.yaml
    ray job submit --working-dir . -- python jobs/curate.py --config jobs/configs/demo.yaml
"""

import json

from skutune.cli import job_args, setup
from skutune.cluster import init_ray
from skutune.curate import run_curate
from skutune.model_import import resolve_model_dir

cfg = setup(job_args(__doc__))  # config is validated here, before Ray starts
model_dir = resolve_model_dir(cfg.model)  # the tokenizer comes from the base model
init_ray()
manifest = run_curate(cfg, model_dir)
print(json.dumps(manifest, indent=2))
print(f"curated data: {cfg.output_dir() / 'data'}")
