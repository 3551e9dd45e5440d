"""Curate: catalog + labelled examples + query log -> validated, filtered, deduplicated,
decontaminated, graded (and distilled) tokenized Parquet, with runs/<name>/curation.md.

    python jobs/curate.py --config jobs/configs/demo.yaml
    ray job submit --working-dir . -- python jobs/curate.py --config jobs/configs/demo.yaml
"""

from skutune.cli import job_args, setup
from skutune.cluster import init_ray
from skutune.curate import run_curate
from skutune.model_import import resolve_model_dir

cfg = setup(job_args(__doc__))  # config is validated here, before Ray starts
model_dir = resolve_model_dir(cfg.model)  # the tokenizer comes from the base model
init_ray()
manifest = run_curate(cfg, model_dir)
print((cfg.output_dir() / "curation.md").read_text().split("## Sample removed rows")[0])
print(f"curated data: {cfg.output_dir() / 'data'} (manifest.json, quarantine.jsonl, removed.jsonl); report: {cfg.output_dir() / 'curation.md'}")
