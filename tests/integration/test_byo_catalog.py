"""Bring your own catalog: a scraped CSV (blank rows, prices as text, attribute blobs,
category paths) goes through curate with a column mapping, cold-start queries are generated
from it with no hand labels, then index -> train the understanding adapter -> grounded eval."""

import json
from pathlib import Path

import pytest

from helpers import CONFIGS, REPO, assert_region_filtered, tiny_config
from skutune.config import load_config
from skutune.data.curate import run_curate
from skutune.eval.evaluate import Systems, score_systems
from skutune.runtime.paths import load_jsonl
from skutune.search.index import build_index
from skutune.train.trainer import LOG_FILE, build_trainer, publish_checkpoint


@pytest.mark.beside  # self-contained (its own Ray, its own curate): runs beside the rest
def test_scraped_catalog_cold_start_to_grounded_eval(ray_local, tiny_model_dir, tmp_path):
    tiny = tiny_config(tmp_path)
    cfg = load_config(
        CONFIGS / "byo_catalog.yaml",
        {
            "run.output_dir": str(tmp_path),
            "data.catalog_path": str(REPO / "tests" / "fixtures" / "scraped_catalog.csv"),
            "model.random_init": tiny.model.random_init.model_dump(),
            "data.max_length": 160,
            "train.num_workers": 1,
            "train.epochs": 3,
            "train.batch_size": 16,
            "train.lr": 0.03,
            "train.log_every": 2,
            "curate.semantic_dedup.enabled": False,  # MiniLM actors: ~25 s; test_curation.py covers it
        },
    )
    manifest = run_curate(cfg, tiny_model_dir)

    cat = manifest["catalog"]
    assert cat["rows_in"] == 84 and cat["rows_out"] == 80
    assert cat["rows_in"] == cat["rows_out"] + sum(cat["quarantined"].values()) + sum(cat["removed"].values())
    reasons = [json.loads(line)["reason"] for line in (tmp_path / "data" / "quarantine.jsonl").read_text().splitlines()]
    assert (
        sum("blank row" in r for r in reasons) == 2
        and any("price: no amount in 'call for price'" in r for r in reasons)
        and any(r.startswith("title") for r in reasons)
    )
    catalog = load_jsonl(tmp_path / "data" / "catalog.jsonl")
    fridge = next(r for r in catalog if r["category"] == "refrigerators")
    assert isinstance(fridge["attributes"]["capacity_l"], int) and isinstance(fridge["attributes"]["inverter"], bool)
    assert all(isinstance(p, float) for r in catalog for p in r["prices"].values())

    ex = manifest["examples"]
    assert ex["train"] >= 80 and ex["test"] >= 10 and ex["train_tokens"]["parse"] > 0  # generated, not hand-labelled
    assert ex["train"] >= 0.8 * (ex["train"] + ex["test"])  # held-out phrasings, not held-out product names
    build_index(catalog, cfg.index_dir(), actors=1)

    ds = ray_local.data.read_parquet(str(tmp_path / "data" / "train" / "parse"))
    result = build_trainer(cfg, tiny_model_dir, ds).fit()
    with result.checkpoint.as_directory() as d:
        history = [json.loads(line)["loss"] for line in open(f"{d}/{LOG_FILE}")]
        publish_checkpoint(Path(d), cfg.adapter_dir("understand"), cfg, tiny_model_dir, {"target": "parse"})
    assert sum(history[-3:]) / 3 < sum(history[:3]) / 3 - 0.5, history

    examples = load_jsonl(tmp_path / "data" / "test.jsonl")
    report, predictions = score_systems(
        Systems(cfg, tiny_model_dir, catalog), ["grounded", "bm25"], examples, {r["sku"]: r for r in catalog}
    )
    g = report["grounded"]
    assert g["n"] == len(examples) and g["hallucinated_sku_rate"] == 0.0 and g["ms_per_query"] > 0
    assert_region_filtered(predictions, examples)
