"""Index: the catalog -> a new version of the grounded-search index (BM25 + MiniLM + ANN).

    python jobs/index.py --config jobs/configs/demo.yaml
    python jobs/index.py --config jobs/configs/demo.yaml --set index.catalog=my_catalog.jsonl
    ray job submit --working-dir . -- python jobs/index.py --config jobs/configs/demo.yaml

Incremental: run it again after SKUs are added, changed or removed and only those are
re-embedded; the new version is live (CURRENT) when the job ends. No model is retrained.
"""

from skutune.cli import run_stage

run_stage("index", __doc__)  # skutune.pipeline.index, as `skutune index` runs it
