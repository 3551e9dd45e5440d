"""Index: the catalog -> a new version of the grounded-search index (BM25 + MiniLM + ANN).

    python jobs/index.py --config jobs/configs/demo.yaml
    python jobs/index.py --config jobs/configs/demo.yaml --set index.catalog=my_catalog.jsonl
    ray job submit --working-dir . -- python jobs/index.py --config jobs/configs/demo.yaml

Incremental: run it again after SKUs are added, changed or removed and only those are
re-embedded; the new version is live (CURRENT) when the job ends. No model is retrained.
"""

import json
from pathlib import Path

from skutune.cli import job_args, setup
from skutune.cluster import init_ray
from skutune.paths import load_jsonl
from skutune.index import build_index
from skutune.intents import CAMPAIGNS

cfg = setup(job_args(__doc__))  # config is validated here, before Ray starts
catalog = Path(cfg.index.catalog) if cfg.index.catalog else cfg.output_dir() / "data" / "catalog.jsonl"
if not catalog.exists():
    raise SystemExit(f"no catalog at {catalog}: run jobs/curate.py --config <same config> first, or set index.catalog")
rows = load_jsonl(catalog)
init_ray(cfg.index.actors)
# The bundled campaigns travel with the index: grounded search filters seasonal queries by them.
meta = build_index(rows, cfg.index_dir(), actors=cfg.index.actors, ann_min_rows=cfg.index.ann_min_rows,
                   campaigns=CAMPAIGNS if cfg.data.source == "bundled" else ())
print(json.dumps({k: v for k, v in meta.items() if k != "campaigns"}, indent=2))
print(f"index: {cfg.index_dir()} (live version v{meta['version']:04d})")
