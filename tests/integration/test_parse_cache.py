"""Head queries answered ahead of time (`skutune parse-cache`): a Ray Data job over a query log
writes the replica's own outputs for the most frequent queries; the running app follows the new
table and answers those queries without the model, over HTTP; everything else still decodes, and
so does a head query whose adapter was retrained since the table was built."""

import datetime as dt
import json
import shutil
import time
from pathlib import Path

from helpers import random_artefact
from skutune.demo.catalog import build_catalog
from skutune.serve.parse_cache import TABLE, build_parse_cache

HEAD, TAIL = "Galaxy Buds price", "galaxy buds with noise cancelling for the gym"


def log_rows(sku: str) -> list[dict]:
    row = {"sku": sku, "clicks": 1, "impressions": 3, "timestamp": "2026-11-01T10:00:00", "region": "IN"}
    return (
        [row | {"query": q} for q in (HEAD, "galaxy  buds PRICE", "galaxy buds price")]  # one query, three spellings
        + [row | {"query": TAIL}]
        + [{"query": "broken row"}]  # invalid (no SKU, no region): never cached
    )


def search(app, **body) -> dict:
    r = app.http.post(f"{app}/v1/search", json={"region": "IN", **body}, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()


def test_head_queries_skip_the_model_and_tail_queries_still_decode(app, ray_local, tiny_model_dir, tmp_path):
    log = tmp_path / "log.jsonl"
    sku = next(r["sku"] for r in build_catalog() if "IN" in r["regions"])
    log.write_text("".join(json.dumps(r) + "\n" for r in log_rows(sku)))
    assert search(app, query=HEAD, mode="grounded")["parse_cache"] == "miss"  # no table yet

    meta = build_parse_cache(app.args, log, {}, top=1, day=dt.date.today())
    assert meta["head_queries"] == 1 and meta["log_rows_covered"] == 3 and meta["entries"] == 2, meta
    table = Path(app.args["parse_cache"]) / meta["version"] / TABLE
    texts = {e["target"]: e for e in map(json.loads, table.read_text().splitlines())}
    assert texts["parse"]["adapter"] == "typo" and texts["answer"]["adapter"] == "comparison"

    grounded = search(app, query="GALAXY buds  price", mode="grounded")
    assert grounded["parse_cache"] == "hit" and grounded["raw"] == texts["parse"]["text"]
    assert grounded["constraints_applied"][:1] == ["region=IN"] or grounded["parse"].get("intent") == "refusal"
    closed = search(app, query=HEAD)
    assert closed["parse_cache"] == "hit" and closed["raw"] == texts["answer"]["text"]

    tail = search(app, query=TAIL, mode="grounded")
    assert tail["parse_cache"] == "miss"
    # a miss says where its time went: the model decoded, a hit's stages have no decode
    assert tail["stages_ms"]["decode"] > 0 and "decode" not in grounded["stages_ms"] | closed["stages_ms"]
    assert abs(sum(tail["stages_ms"].values()) - tail["latency_ms"]) < 5, tail["stages_ms"]
    assert search(app, query=HEAD, region="US")["parse_cache"] == "miss"  # cached for IN only
    assert search(app, query=HEAD, constrained=False)["parse_cache"] == "miss"  # not what the table decoded
    assert search(app, query=HEAD, adapter="typo")["parse_cache"] == "miss"  # another adapter's answer
    metrics = app.http.get(f"{app}/metrics", timeout=30).text
    assert 'skutune_parse_cache_total{result="hit",target="parse"}' in metrics
    # the table's one grounded head query was retrieved ahead, in the background, once it went live
    for _ in range(60):
        if "skutune_parse_cache_warmed 1.0" in app.http.get(f"{app}/metrics", timeout=30).text:
            break
        time.sleep(0.5)
    else:
        raise AssertionError("the head query was never retrieved ahead")

    # "typo" retrained in place (as `skutune train` swaps its directory): its cached parse is not
    # what its new weights decode, so the head query decodes again; the old weights back, it hits
    typo = app.dir / "adapters" / "typo"
    kept = typo.rename(typo.with_name(".typo.kept"))
    random_artefact(tiny_model_dir, typo, {"name": "lora"}, seed=9)
    try:
        assert search(app, query=HEAD, mode="grounded")["parse_cache"] == "miss"
    finally:
        shutil.rmtree(typo)
        kept.rename(typo)
    assert search(app, query=HEAD, mode="grounded")["parse_cache"] == "hit"
