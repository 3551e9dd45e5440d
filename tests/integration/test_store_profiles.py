"""A second store, end to end on the tiny model: a multi-brand UK marketplace priced in GBP
(jobs/configs/stores/uk_marketplace.yaml). Its catalog rows are all kept, its prompts name it, and
nothing in it is a competitor: the demo store's assumptions never reach it."""

import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from helpers import REPO, assert_region_filtered, demo_store, tiny_config
from skutune.config import ConfigError, load_config
from skutune.data.curate import run_curate
from skutune.data.filters import off_domain
from skutune.eval.evaluate import Systems, score_systems
from skutune.runtime.paths import load_jsonl
from skutune.search.budget import extract_budget
from skutune.search.index import build_index
from skutune.store import StoreProfile, load_store_data
from skutune.train.trainer import LOG_FILE, build_trainer, publish_checkpoint

UK = StoreProfile.model_validate(load_store_data("uk_marketplace"))
CATALOG = REPO / "tests" / "fixtures" / "uk_marketplace_catalog.csv"


def uk_config(out: Path, **overrides):
    tiny = tiny_config(out)
    return load_config(
        REPO / "jobs" / "configs" / "tiny.yaml",
        {
            "run.output_dir": str(out),
            "store": "uk_marketplace",
            "data": {
                "source": "files",
                "catalog_path": str(CATALOG),
                "max_length": 160,
                "catalog_columns": {
                    "product_id": "sku",
                    "name": "title",
                    "category_path": "category",
                    "specs": "attributes",
                },
            },
            "model.random_init": tiny.model.random_init.model_dump(),
            "train.epochs": 4,
            "train.batch_size": 8,
            "train.lr": 0.03,
            "train.task": "understand",
            "train.target": "parse",
            **overrides,
        },
    )


def test_a_marketplace_has_no_competitors_and_its_own_off_domain_words():
    for query in ("apple watch strap", "buy apple iphone 15", "family recipes cookbook", "football boots size 9"):
        assert off_domain(query, UK) is None, query
    # the same queries in the single-brand demo store: another brand's purchase, a non-commerce topic
    assert off_domain("buy apple iphone 15", demo_store()) == "competitor_purchase"
    assert off_domain("family recipes cookbook", demo_store()) == "off_domain"
    assert UK.system("parse") == "Northwind Market UK search. Parse the query into JSON."


def test_values_are_checked_against_the_profile(tmp_path):
    with pytest.raises(ConfigError, match="train.slice.regions: unknown region 'IN'"):
        uk_config(tmp_path, **{"train.slice": {"regions": ["IN"]}})
    with pytest.raises(ConfigError, match="store.regions.UK.currency"):
        load_config(REPO / "jobs" / "configs" / "tiny.yaml", {"store.regions": {"UK": {"currency": "pounds"}}})


@pytest.mark.beside
def test_uk_marketplace_curates_trains_and_searches_in_gbp(ray_local, tiny_model_dir, tmp_path):
    cfg = uk_config(tmp_path)
    manifest = run_curate(cfg, tiny_model_dir)
    cat = manifest["catalog"]
    assert (
        cat["rows_in"] == cat["rows_out"] == 12 and not cat["quarantined"]
    )  # GBP prices: kept, not "unknown currency"
    catalog = load_jsonl(cfg.run_dir().catalog)
    assert all(set(r["prices"]) == {"UK"} for r in catalog)
    assert {r["brand"] for r in catalog} >= {"Apple", "Samsung", "LG", "Nike"}
    assert not any(k.startswith("filter: off-domain") for k in manifest["examples"]["removed"]), manifest["examples"][
        "removed"
    ]

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    ds = ray_local.data.read_parquet(str(cfg.run_dir().train("parse")))
    first = tok.decode(ds.take(1)[0]["input_ids"])
    assert "Northwind Market UK search." in first and "Samsung store" not in first and "[UK " in first
    test = load_jsonl(cfg.run_dir().test)
    budget = [e for e in load_jsonl(cfg.run_dir().raw / "coldstart.jsonl") if e["kind"] == "budget"]
    for e in budget:  # in pounds however the shopper wrote them ("£40", "40 quid", "under 40"): the rule agrees
        assert e["parse"]["constraints"]["currency"] == "GBP"
        assert extract_budget(e["query"], "UK", UK) == e["parse"]["constraints"], e["query"]
    assert any("£" in e["query"] for e in budget) and any("£" not in e["query"] for e in budget)

    build_index(catalog, cfg.index_dir(), actors=1)
    result = build_trainer(cfg, tiny_model_dir, ds).fit()
    with result.checkpoint.as_directory() as d:
        losses = [json.loads(line)["loss"] for line in open(f"{d}/{LOG_FILE}")]
        publish_checkpoint(Path(d), cfg.adapter_dir("understand"), cfg, tiny_model_dir, {"target": "parse"})
    assert losses[-1] < losses[0], losses

    report, predictions = score_systems(
        Systems(cfg, tiny_model_dir, catalog), ["grounded", "bm25"], test, {r["sku"]: r for r in catalog}
    )
    assert report["grounded"]["hallucinated_sku_rate"] == 0.0
    assert_region_filtered(predictions, test)
