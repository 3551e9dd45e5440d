"""Curate: catalog + labelled examples + query log -> validated, filtered, deduplicated,
decontaminated, graded (and distilled) tokenized Parquet, with runs/<name>/curation.md.

    python jobs/curate.py --config jobs/configs/demo.yaml
    ray job submit --working-dir . -- python jobs/curate.py --config jobs/configs/demo.yaml
"""

from skutune.cli import job_args, setup
from skutune.cluster import init_ray
from skutune.curate import run_curate
from skutune.model_import import resolve_model_dir
from skutune.tracking import Tracker

cfg = setup(job_args(__doc__))  # config is validated here, before Ray starts
model_dir = resolve_model_dir(cfg.model)  # the tokenizer comes from the base model
init_ray()
manifest = run_curate(cfg, model_dir)
with Tracker(cfg, "curate") as track:  # rows in / out / quarantined / removed per reason, seconds per stage
    track.metrics({k: manifest[k] for k in ("catalog", "examples", "log", "seconds") if k in manifest})
    for name in ("curation.md", "curation.json", "curation_lengths.png", "curation_scores.png", "data/manifest.json"):
        track.artifact(cfg.output_dir() / name)
print((cfg.output_dir() / "curation.md").read_text().split("## Sample removed rows")[0])
print(f"curated data: {cfg.output_dir() / 'data'} (manifest.json, quarantine.jsonl, removed.jsonl); report: {cfg.output_dir() / 'curation.md'}")
