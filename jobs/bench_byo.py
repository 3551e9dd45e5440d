"""Bring your own catalog, measured on real catalogs: the whole BYO path on the embedded model
(curate with the cold start -> index -> train the understanding adapter -> grounded search),
scored on shopper queries written by hand from reading each catalog (jobs/bench_byo/*.yaml),
against BM25 and dense retrieval, per query kind, with one ablation row per part of query
understanding (config `eval.grounded`: spelling, grammar, budget_rule, evidence, model).

    python jobs/bench_byo.py                                     # every catalog in jobs/bench_byo/
    python jobs/bench_byo.py --catalog amazon_product_sample_1000 --reuse   # score again, no retraining
    python jobs/bench_byo.py --catalog scraped_catalog --set train.epochs=1
    python jobs/bench_byo.py --queries ~/held_out/my_catalog.yaml   # a catalog kept out of the repo

The hand-written queries never reach training: they are curate's `decontam.eval_paths`, and a
test checks no library module reads them. Expected products come from each query's rule over the
curated catalog (`rule` below). Writes runs/bench_byo/<catalog>.md and .json; prints both.
"""

import argparse
import json
import random
import re
import time
from collections import Counter
from pathlib import Path

import yaml

QUERIES = Path(__file__).resolve().parent / "bench_byo"
OUT = Path("runs") / "bench_byo"
COLD_START_SAMPLE = 120  # generated test queries scored beside the hand-written ones
ABLATIONS = {  # row label -> the eval.grounded part switched off
    "grounded - spelling": "spelling",
    "grounded - grammar": "grammar",
    "grounded - budget rule": "budget_rule",
    "grounded - lexical evidence": "evidence",
    "grounded - model (rules only)": "model",
}


def said(phrase: str, text: str) -> bool:
    """`phrase` in `text` as whole words: "rc" is not in "circuits"."""
    return re.search(rf"(?<![a-z0-9]){re.escape(phrase)}(?![a-z0-9])", text) is not None


def rule(q: dict, row: dict, region: str) -> bool:
    """Whether `row` answers hand-written query `q` in `region`: sold there, every `title` phrase in
    the title, one of `any` in the title, one of `category` in a level of its tree, one of `text` in
    title or description, `brand` in its brand, each of `attributes` its value, its price there
    within `price_min`/`price_max`, and one of the rules in `either` (what a title calls a "board
    game" and what the tree files under board games)."""
    if region not in row["regions"]:
        return False
    if q.get("either") and not any(rule(alt, row, region) for alt in q["either"]):
        return False
    title = row["title"].lower()
    text = f"{title} {row.get('description', '').lower()}"
    levels = [p.lower() for p in row.get("category_path", [])] + [row["category"]]
    price = row["prices"][region]
    return (
        all(said(p, title) for p in q.get("title", []))
        and all(row["attributes"].get(k) == v for k, v in q.get("attributes", {}).items())
        and (not q.get("any") or any(said(p, title) for p in q["any"]))
        and (not q.get("category") or any(c in lv for c in q["category"] for lv in levels))
        and (not q.get("text") or any(said(p, text) for p in q["text"]))
        and (not q.get("brand") or q["brand"] in (row.get("brand") or "").lower())
        and price <= q.get("price_max", float("inf"))
        and price >= q.get("price_min", 0)
    )


def examples_of(spec: dict, catalog: list[dict]) -> list[dict]:
    """The queries as eval examples, their relevant SKUs (cheapest first) by rule; a query no
    product answers is an error in the file, not a miss."""
    out = []
    for i, q in enumerate(spec["queries"]):
        region = q.get("region", spec["region"])
        relevant = sorted((r for r in catalog if rule(q, r, region)), key=lambda r: (r["prices"][region], r["sku"]))
        if not relevant:
            raise SystemExit(f"{spec['catalog']}: no product answers {q['q']!r} in {region}: fix its rule")
        constraints = {"region": region} | ({"max_price": q["price_max"]} if "price_max" in q else {})
        out.append(
            {
                "id": f"byo-{i:03d}",
                "kind": q["kind"],
                "task": "search",
                "split": "test",
                "query": q["q"],
                "region": region,
                "date": "2026-06-01",
                "target": {"skus": [r["sku"] for r in relevant[:3]]},
                "relevant": [r["sku"] for r in relevant],
                "constraints": constraints,
            }
        )
    return out


def losing_stage(pred: dict, example: dict, index, store) -> str:
    """Where a grounded miss was lost: the parse (invalid JSON), the filters (no expected product
    left inside them), or retrieval (one was left, but not ranked first)."""
    from skutune.search.grounded import apply_filters

    if not pred["parse_valid"]:
        return "parse"
    mask, _, _ = apply_filters(index, pred["parse"], example["region"], {}, store.currency(example["region"]))
    pos = {r["sku"]: i for i, r in enumerate(index.rows)}
    return "retrieval" if any(mask[pos[s]] for s in example["relevant"]) else "filters"


def bench_config(spec: dict, overrides: dict, out_dir: Path):
    """The catalog's BYO config, its run named for the bench, with the hand-written queries as an
    eval set curate decontaminates against: no training row shares an n-gram with them."""
    from skutune.cli import config_or_exit, config_path
    from skutune.config import load_config
    from skutune.runtime.paths import write_jsonl

    out_dir.mkdir(parents=True, exist_ok=True)
    held_out = out_dir / f"{spec['catalog']}_queries.jsonl"
    write_jsonl(held_out, [{"query": q["q"]} for q in spec["queries"]])
    sets = {"run.name": f"bench_byo_{spec['catalog']}", "curate.decontam.eval_paths": [str(held_out)], **overrides}
    return config_or_exit(load_config, config_path(spec["config"]), sets)


def run_catalog(spec: dict, overrides: dict, reuse: bool) -> dict:
    from skutune import pipeline
    from skutune.eval.evaluate import Systems, score_systems
    from skutune.runtime.model_import import resolve_model_dir
    from skutune.runtime.paths import load_jsonl, write_jsonl

    name = spec["catalog"]
    cfg = bench_config(spec, overrides, OUT)
    rd, stages_s = cfg.run_dir(), {}
    if not Path(cfg.data.catalog_path).exists():
        print(f"{name}: {cfg.data.catalog_path} is not on this machine; skipped")
        return {}
    for stage in ("curate", "index", "train"):
        if (
            reuse
            and stage != "index"
            and (rd.manifest if stage == "curate" else cfg.adapter_dir("understand")).exists()
        ):
            continue
        start = time.time()
        getattr(pipeline, stage)(cfg)
        stages_s[stage] = round(time.time() - start, 1)
    manifest = json.loads(rd.manifest.read_text())
    catalog = load_jsonl(rd.catalog)
    examples = examples_of(spec, catalog)
    by_sku = {r["sku"]: r for r in catalog}
    model_dir = resolve_model_dir(cfg.model)

    rows, predictions = {}, []
    full = Systems(cfg, model_dir, catalog)
    report, preds = score_systems(full, ["grounded", "bm25", "dense"], examples, by_sku)
    rows |= report
    predictions += preds
    _, _, search, _, _ = full.grounded()
    grounded = [p for p in preds if p["system"] == "grounded"]
    lost = [losing_stage(p, e, search.index, cfg.store) for p, e in zip(grounded, examples) if not p["hit_at_1"]]
    for label, part in ABLATIONS.items():
        ablated = cfg.model_copy(
            update={
                "eval": cfg.eval.model_copy(update={"grounded": cfg.eval.grounded.model_copy(update={part: False})})
            }
        )
        report, preds = score_systems(Systems(ablated, model_dir, catalog), ["grounded"], examples, by_sku)
        rows[label] = report["grounded"]
        predictions += [{**p, "system": label} for p in preds]
    cold_start = random.Random(0).sample(load_jsonl(rd.test), min(COLD_START_SAMPLE, manifest["examples"]["test"]))
    cold, _ = score_systems(full, ["grounded", "bm25"], cold_start, by_sku)
    result = {
        "catalog": name,
        "queries": len(examples),
        "kinds": dict(Counter(e["kind"] for e in examples)),
        "products": len(catalog),
        "curation": {
            "catalog": {k: manifest["catalog"][k] for k in ("rows_in", "rows_out", "quarantined")},
            "examples": {k: manifest["examples"][k] for k in ("rows_in", "train", "test", "removed")},
        },
        "stages_s": stages_s,
        "systems": rows,
        "grounded_misses_by_stage": {s: lost.count(s) for s in ("parse", "filters", "retrieval")},
        "cold_start_test": {k: {"hit_at_1": v["hit_at_1"], "n": v["n"]} for k, v in cold.items()},
    }
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=2))
    write_jsonl(OUT / f"{name}_predictions.jsonl", predictions)
    (OUT / f"{name}.md").write_text(markdown(result))
    return result


def markdown(r: dict) -> str:
    ex = r["curation"]["examples"]
    share = ex["train"] / max(1, ex["train"] + ex["test"])
    kinds = list(r["systems"]["grounded"]["by_kind"])
    lines = [
        f"## {r['catalog']}: {r['queries']} hand-written queries, {r['products']} products",
        "",
        f"curation: {r['curation']['catalog']['rows_out']} of {r['curation']['catalog']['rows_in']} catalog rows kept; "
        f"cold start {ex['rows_in']} queries -> {ex['train']} train / {ex['test']} test ({share:.0%} train); "
        f"removed {ex['removed']}",
        "",
        "| system | hit@1 | hit@5 | " + " | ".join(kinds) + " | parse valid | hallucinated | ms/query |",
        "|---" * (len(kinds) + 6) + "|",
    ]
    for name, s in r["systems"].items():
        per_kind = " | ".join(f"{s['by_kind'][k]['hit_at_1']:.2f}" for k in kinds)
        valid = f"{s['parse_valid']:.2f}" if "parse_valid" in s else "–"
        lines.append(
            f"| {name} | {s['hit_at_1']:.2f} | {s['hit_at_5']:.2f} | {per_kind} | {valid} | "
            f"{s['hallucinated_sku_rate']:.2f} | {s['ms_per_query']:.0f} |"
        )
    n = r["queries"]
    lines += [
        "",
        "queries per kind: " + ", ".join(f"{k} {c}" for k, c in r["kinds"].items()),
        f"grounded misses by the stage that lost them: {r['grounded_misses_by_stage']} of {n}",
        f"cold-start test split (generated, not hand-written; a sample): {r['cold_start_test']}",
        f"stage seconds: {r['stages_s']}",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", action="append", help="a file name in jobs/bench_byo/ (default: every one)")
    parser.add_argument(
        "--queries",
        action="append",
        default=[],
        metavar="YAML",
        help="a queries file anywhere, in the same shape (its `config` a shipped name or a path): a catalog "
        "kept out of the repo; given alone, only these run",
    )
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config override")
    parser.add_argument("--reuse", action="store_true", help="keep a run's curated data and adapter: score again")
    args = parser.parse_args(argv)
    from skutune.cli import overrides_of, start_logging

    start_logging()
    overrides = overrides_of(args.set)
    names = args.catalog or ([] if args.queries else sorted(p.stem for p in QUERIES.glob("*.yaml")))
    for path in [QUERIES / f"{name}.yaml" for name in names] + [Path(q).expanduser() for q in args.queries]:
        result = run_catalog(yaml.safe_load(path.read_text()), overrides, args.reuse)
        if result:
            print(markdown(result))


if __name__ == "__main__":
    main()
