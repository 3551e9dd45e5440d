"""Curate: catalog + labelled examples + query log -> validated, filtered, deduplicated,
decontaminated, graded (and distilled) tokenized Parquet, with runs/<name>/curation.md.

    python jobs/curate.py --config jobs/configs/demo.yaml
    ray job submit --working-dir . -- python jobs/curate.py --config jobs/configs/demo.yaml
"""

from skutune.cli import run_stage

run_stage("curate", __doc__)  # skutune.pipeline.curate, as `skutune curate` runs it
