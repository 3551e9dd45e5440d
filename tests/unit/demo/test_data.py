"""The bundled domain data: deterministic, complete, and with a test split whose phrasings
never occur in training."""

from collections import Counter

from skutune.demo.catalog import build_catalog
from skutune.demo.examples import KINDS, build_examples
from skutune.schemas import SCHEMAS, is_valid


def test_catalog_size_categories_and_fields():
    catalog = build_catalog()
    assert len(catalog) >= 200
    assert len({r["sku"] for r in catalog}) == len(catalog)
    cats = Counter(r["category"] for r in catalog)
    assert len(cats) >= 8
    assert {"phone", "tablet", "laptop", "tv", "refrigerator", "washer", "ac", "wearable", "monitor"} <= set(cats)
    fridge = next(r for r in catalog if r["sku"] == "RT345-SV")
    assert fridge["title"] == "Samsung 345L Double Door Refrigerator (Silver) [サムスン 345L 冷蔵庫]"
    for row in catalog:
        assert row["title_en"] and row["title_ja"] and row["prices"] and row["regions"] and row["attributes"]
        assert set(row["prices"]) == set(row["regions"])
    s24 = next(r for r in catalog if r["family"] == "S24")
    assert {
        "topic": "wireless_charging",
        "q": "Does Galaxy S24 support wireless charging?",
        "a": "yes, Qi wireless charging up to 15W",
        "value": "yes",
    } in s24["faq"]


def test_generation_is_deterministic():
    assert build_catalog() == build_catalog()
    assert build_examples() == build_examples()


def test_every_kind_in_both_splits_with_valid_targets():
    rows = build_examples()
    skus = {r["sku"] for r in build_catalog()}
    counts = Counter((r["kind"], r["split"]) for r in rows)
    for kind in KINDS:  # logged examples come from a query log, not the generator
        assert counts[(kind, "train")] > 0 and counts[(kind, "test")] > 0, kind
    for r in rows:
        assert is_valid(r["target"], r["task"]), r
        assert set(r["target"].get("skus", [])) <= set(r["relevant"]) <= skus
    assert set(SCHEMAS) == {r["task"] for r in rows}


def test_test_phrasings_never_occur_in_training():
    rows = build_examples()
    train = {r["query"].lower() for r in rows if r["split"] == "train"}
    test = [r for r in rows if r["split"] == "test"]
    assert not [r["query"] for r in test if r["query"].lower() in train]
    # a template is the phrasing with its slots ("{a} vs {b}") or, for fixed phrasings, the phrasing itself
    train_templates = {r["template"] for r in rows if r["split"] == "train"}
    assert not train_templates & {r["template"] for r in test}


def test_notes_examples_are_covered():
    queries = {r["query"] for r in build_examples()}
    for q in [
        "samsung big fridge double door",
        "best phone for gaming",
        "apple ipad alternative",
        "Does Galaxy S24 support wireless charging?",
        "buy iphone 15 pro",
    ]:
        assert q in queries, q
    assert any("vs iphone 15 pro max" in q for q in queries)
    assert any(q.startswith("diwali tv") for q in queries)
