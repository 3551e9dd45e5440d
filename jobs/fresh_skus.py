"""Fresh SKUs: add products after training and check grounded search finds them as well as
the products it was trained around, with no retraining.

    python jobs/fresh_skus.py --config jobs/configs/demo.yaml [--set eval.fresh_skus=1000]

1. `eval.fresh_skus` new SKUs (new model names, synth.py) join the curated catalog.
2. A copy of the run's index (runs/<name>/index_fresh, so the run's own index keeps the
   curated catalog) is updated incrementally: only the new SKUs are embedded.
3. Model-name queries, and misspelt ones, about the new families and about the trained-on
   families (same templates, coldstart.py) are scored for every system.
Writes runs/<name>/fresh_eval.json, fresh_eval.md and fresh_predictions.jsonl.
"""

import json
import shutil
import time

from skutune.cli import job_args, setup
from skutune.data.coldstart import synth_queries
from skutune.demo.synth import synth_catalog
from skutune.runtime.cluster import init_ray
from skutune.runtime.model_import import resolve_model_dir
from skutune.runtime.paths import load_jsonl, write_jsonl

cfg = setup(job_args(__doc__))  # config is validated here, before Ray starts
run_dir, rd = cfg.output_dir(), cfg.run_dir()
if not (cfg.index_dir() / "CURRENT").exists():
    raise SystemExit(f"no index at {cfg.index_dir()}: run `skutune index` with the same config first")
model_dir = resolve_model_dir(cfg.model)
seen = load_jsonl(rd.catalog)
fresh = synth_catalog(cfg.eval.fresh_skus, seed=cfg.run.seed + 1, prefix="NEW")
write_jsonl(rd.data / "catalog_fresh.jsonl", seen + fresh)

from skutune.eval.evaluate import Systems, score_systems  # noqa: E402  (heavy imports after the checks)
from skutune.search.index import build_index, current_version  # noqa: E402

fresh_dir = run_dir / "index_fresh"
shutil.rmtree(fresh_dir, ignore_errors=True)
live = current_version(cfg.index_dir())
shutil.copytree(live, fresh_dir / live.name)
(fresh_dir / "CURRENT").write_text(live.name)
init_ray(cfg.index.actors)
start = time.time()
meta = build_index(
    seen + fresh,
    fresh_dir,
    actors=cfg.index.actors,
    ann_min_rows=cfg.index.ann_min_rows,
    encoder=cfg.store.encoder,
    stopwords=cfg.store.stopwords,
)
searchable_s = time.time() - start
print(
    f"{len(fresh)} SKUs added: index v{meta['version']:04d} live after {searchable_s:.1f}s ({meta['embedded']} embedded)"
)

queries = {
    name: [
        e
        for e in synth_queries(rows, cfg.store, cfg.run.seed, {r["family"] for r in rows}, test_share=1.0)
        if e["split"] == "test"
    ]
    for name, rows in (("fresh", fresh), ("seen", seen))
}
systems = Systems(cfg, model_dir, seen + fresh, index_dir=fresh_dir)
names = [s for s in cfg.eval.systems if s not in ("base", "grounded_rerank")]
catalog = {r["sku"]: r for r in seen + fresh}
report = {
    "fresh_skus": len(fresh),
    "index_update_s": round(searchable_s, 1),
    "index": meta,
    "queries": {k: len(v) for k, v in queries.items()},
    "systems": {},
}
predictions = []
for name, examples in queries.items():
    scores, preds = score_systems(systems, names, examples, catalog)
    predictions += [{"about": name, **p} for p in preds]
    for system, s in scores.items():
        report["systems"].setdefault(system, {})[name] = {
            m: s[m] for m in ("hit_at_1", "hit_at_5", "hallucinated_sku_rate", "ms_per_query")
        }
lines = [
    "| system | hit@1 seen | hit@1 fresh | gap (points) | hit@5 fresh | hallucinated fresh |",
    "|---|---|---|---|---|---|",
]
for system, r in report["systems"].items():
    gap = 100 * (r["seen"]["hit_at_1"] - r["fresh"]["hit_at_1"])
    lines.append(
        f"| {system} | {r['seen']['hit_at_1']:.2f} | {r['fresh']['hit_at_1']:.2f} | {gap:+.0f} | {r['fresh']['hit_at_5']:.2f} | {r['fresh']['hallucinated_sku_rate']:.2f} |"
    )
(run_dir / "fresh_eval.json").write_text(json.dumps(report, indent=2))
(run_dir / "fresh_eval.md").write_text("\n".join(lines) + "\n")
write_jsonl(run_dir / "fresh_predictions.jsonl", predictions)
print(json.dumps({k: v for k, v in report.items() if k != "systems"}, indent=2))
print("\n".join(lines))
