"""Search at catalog scale: a synthetic catalog of 100,000 SKUs, indexed and queried on this
machine's CPUs.

    python jobs/bench_search.py                       # 100,000 SKUs, writes runs/bench_search/
    python jobs/bench_search.py --skus 20000 --queries 100

Reports (bench_search.json, and printed):
- index build: rows/s, seconds per stage, peak memory (RSS of this process and its Ray workers)
- query latency p50/p99: retrieval alone (filters + BM25 + ANN + fusion, gold parses), with
  the model's listwise rerank of the top 5, and the model's query understanding
- recall@10 of the faiss IVF index against exact search over the same embeddings
- 1,000 SKUs added incrementally: seconds until the new index version is live, and hit@1 on
  queries about them
"""

import argparse
import json
import random
import shutil
import time
from pathlib import Path

import numpy as np
import psutil

from skutune.config import ModelConfig
from skutune.data.coldstart import synth_queries
from skutune.demo.synth import synth_catalog
from skutune.runtime.cluster import init_ray
from skutune.runtime.memory import PeakRSS
from skutune.runtime.model_import import resolve_model_dir
from skutune.runtime.paths import runs_dir
from skutune.search.index import build_index
from skutune.search.retrieval import CatalogIndex
from skutune.serve.cards import is_artefact
from skutune.store import StoreProfile, load_store_data

STORE = StoreProfile.model_validate(load_store_data("samsung"))  # the demo store's profile


def pct(values, q) -> float:
    return round(float(np.percentile(values, q)), 1)


def gold_queries(rows, n, seed):
    """Model-name queries with their gold parses about `n` random families of `rows`."""
    families = sorted({r["family"] for r in rows})
    picked = set(random.Random(seed).sample(families, min(n, len(families))))
    return [
        e
        for e in synth_queries(rows, STORE, seed=seed, families=picked)
        if e["split"] == "test" and e["kind"] == "model_code"
    ]


def hit_at_1(search, examples) -> float:
    hits = [
        bool(set(search.search(e["query"], e["parse"], e["region"])["answer"]["skus"][:1]) & set(e["relevant"]))
        for e in examples
    ]
    return sum(hits) / max(1, len(hits))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skus", type=int, default=100_000)
    ap.add_argument("--added", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--rerank-queries", type=int, default=50)
    ap.add_argument("--actors", type=int, default=2, help="MiniLM encoders in the Ray Data actor pool")
    ap.add_argument("--nprobe", type=int, default=32)
    ap.add_argument(
        "--understand-adapter",
        default="runs/demo/adapters/understand",
        help="for the rerank and parse latency; base model if missing",
    )
    ap.add_argument("--out", default=str(runs_dir() / "bench_search"))
    args = ap.parse_args()
    out = Path(args.out)
    index_dir = out / "index"
    shutil.rmtree(index_dir, ignore_errors=True)
    report = {"skus": args.skus, "cpus": psutil.cpu_count(), "actors": args.actors}

    catalog = synth_catalog(args.skus, seed=0)
    init_ray(args.actors)
    with PeakRSS() as mem:
        start = time.time()
        meta = build_index(catalog, index_dir, actors=args.actors, ann_min_rows=min(20000, args.skus))
        build_s = time.time() - start
    report["build"] = {
        "seconds": round(build_s, 1),
        "rows_per_s": round(args.skus / build_s, 1),
        "stages_s": meta["seconds"],
        "peak_rss_gib": round(mem.peak / 2**30, 2),
        "ann": meta["ann"],
    }
    print("build:", json.dumps(report["build"]))

    index = CatalogIndex.load(index_dir, nprobe=args.nprobe)
    from skutune.search.grounded import GroundedSearch, Reranker, parse_queries

    search = GroundedSearch(index, STORE)
    examples = gold_queries(catalog, args.queries, seed=1)
    lat = [search.search(e["query"], e["parse"], e["region"])["retrieval_ms"] for e in examples]
    report["retrieval_ms"] = {
        "p50": pct(lat, 50),
        "p99": pct(lat, 99),
        "queries": len(lat),
        "hit_at_1_gold_parse": round(hit_at_1(search, examples), 3),
    }

    vecs = index.encode([e["query"] for e in examples])
    exact = np.argsort(-(vecs @ index.emb.T), axis=1)[:, :10]
    _, ann_ids = index.ann.search(vecs.astype(np.float32), 10)
    pos = np.vectorize(lambda i: index.pos_of_id.get(int(i), -1))(ann_ids)
    report["ann_recall_at_10"] = round(float(np.mean([len(set(a) & set(e)) / 10 for a, e in zip(pos, exact)])), 3)
    print("retrieval:", json.dumps(report["retrieval_ms"]), "recall@10:", report["ann_recall_at_10"])

    from skutune.generate import load_model

    adapter = Path(args.understand_adapter) if is_artefact(Path(args.understand_adapter)) else None
    tok, model = load_model(resolve_model_dir(ModelConfig()), adapter)
    reranker = Reranker(tok, model, STORE)
    few = examples[: args.rerank_queries]
    lat = [search.search(e["query"], e["parse"], e["region"], reranker=reranker)["retrieval_ms"] for e in few]
    report["retrieval_rerank_ms"] = {"p50": pct(lat, 50), "p99": pct(lat, 99), "queries": len(lat)}
    times = []
    for e in few[:20]:
        t = time.perf_counter()
        parse_queries(tok, model, STORE, [e["query"]], [e["region"]], [e["date"]], batch_size=1)
        times.append(1000 * (time.perf_counter() - t))
    report["understand_ms"] = {
        "p50": pct(times, 50),
        "p99": pct(times, 99),
        "queries": len(times),
        "adapter": str(adapter),
    }
    print("rerank:", json.dumps(report["retrieval_rerank_ms"]), "understand:", json.dumps(report["understand_ms"]))

    added = synth_catalog(args.added, seed=99, prefix="ADD", first_family=len({r["family"] for r in catalog}))
    start = time.time()
    meta = build_index(catalog + added, index_dir, actors=args.actors, ann_min_rows=min(20000, args.skus))
    searchable_s = time.time() - start
    index = CatalogIndex.load(index_dir, nprobe=args.nprobe, encoder=index.encoder)
    fresh = gold_queries(added, args.queries, seed=2)
    report["incremental"] = {
        "added": args.added,
        "seconds_until_searchable": round(searchable_s, 1),
        "embedded": meta["embedded"],
        "stages_s": meta["seconds"],
        "hit_at_1_added_gold_parse": round(hit_at_1(GroundedSearch(index, STORE), fresh), 3),
    }
    print("incremental:", json.dumps(report["incremental"]))
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_search.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
