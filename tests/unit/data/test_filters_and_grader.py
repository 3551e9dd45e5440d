"""The filters and the catalog-grounded grader on known cases: pure functions of a query, an
example and the demo catalog, no Ray."""

import json

from helpers import FRIDGE, demo_store, fridge_example
from skutune.config import CurateConfig
from skutune.data.filters import FilterSet, language, off_domain, scrub_pii, toxic, with_catalog_words
from skutune.data.grader import Grader, query_constraints
from skutune.demo.catalog import build_catalog
from skutune.demo.examples import build_examples

STORE = demo_store()
NOTES_CANDIDATES = [
    "Galaxy S24 Ultra is best.",
    "Samsung 345L Double Door Refrigerator fits a family of 4.",
    "Buy any fridge from Amazon.",
]


def test_notes_fridge_example_keeps_only_the_345l_fridge():
    catalog = build_catalog()
    grader = Grader(catalog, demo_store())
    for ex in (fridge_example(catalog), {**fridge_example(catalog), "relevant": [], "constraints": {"region": "IN"}}):
        best, grades = grader.best(NOTES_CANDIDATES, ex)  # labelled, and as a zero-click query with no labels
        phone, fridge, amazon = grades
        assert not phone.passed and any("phone, not a refrigerator" in r for r in phone.reasons)
        assert not amazon.passed and "off-domain or competitor answer" in amazon.reasons
        assert fridge.passed and best is fridge and best.answer["skus"][0].startswith("RT345-")
    assert query_constraints(FRIDGE, "IN", Grader(build_catalog(), demo_store()).category_words) == (
        {"region": "IN", "max_price": 50000, "min_family_size": 4},
        {"refrigerator"},
    )


def test_grader_checks_sku_region_qa_and_refusal():
    catalog = build_catalog()
    grader = Grader(catalog, demo_store())
    rows = build_examples()
    ex = next(r for r in rows if r["kind"] == "budget" and r["region"] == "IN")
    assert grader.grade(json.dumps(ex["target"]), ex).passed
    assert "hallucinated SKU S99-1TB-XX" in grader.grade('{"skus": ["S99-1TB-XX"]}', ex).reasons
    us_only = next(r["sku"] for r in catalog if "IN" not in r["regions"])
    assert any("not sold in IN" in r for r in grader.grade(json.dumps({"skus": [us_only]}), ex).reasons)
    qa = next(r for r in rows if r["kind"] == "qa")
    assert grader.grade(json.dumps(qa["target"]), qa).passed
    assert (
        "answer does not match the catalog fact"
        in grader.grade(json.dumps({**qa["target"], "answer": "purple"}), qa).reasons
    )
    policy = next(r for r in rows if r["kind"] == "policy" and r["target"]["refusal"] == "medical")
    assert (
        grader.grade('{"refusal": "medical"}', policy).passed
        and not grader.grade('{"refusal": "toxic"}', policy).passed
    )


def test_filters_on_known_cases():
    assert scrub_pii("galaxy s24 call +91 98765 43210 or mail a.b@example.com") == (
        "galaxy s24 call <phone> or mail <email>",
        2,
    )
    assert scrub_pii("s24 ultra 256gb under 50,000") == ("s24 ultra 256gb under 50,000", 0)
    assert [language(q) for q in ("sasta fridge", "サムスン 冷蔵庫", "सैमसंग फ्रिज", "삼성 냉장고", "123")] == [
        "en",
        "ja",
        "hi",
        "ko",
        "und",
    ]
    assert toxic("you stupid bot") == "stupid" and toxic("stupidly cheap tv") is None
    assert (
        off_domain("Buy iPhone 15 Pro", STORE) == "competitor_purchase"
        and off_domain("cheap fridge on amazon", STORE) == "off_domain"
    )
    assert off_domain("weather tomorrow", STORE) == "off_domain" and off_domain("tv for cricket matches", STORE) is None
    assert off_domain("which antibiotic works for a sore throat", STORE) == "medical"
    assert off_domain("galaxy watch that tracks symptoms", STORE) is None  # a product is named
    pharmacy = STORE.model_copy(update={"medical_words": []})  # a store that sells medicine clears the list
    assert off_domain("which antibiotic works for a sore throat", pharmacy) is None
    for legit in ("apple ipad alternative", "S23 Ultra vs iPhone 15 Pro Max", "samsung instead of iphone 15"):
        assert off_domain(legit, STORE) is None, legit
    every_row = build_examples()
    kept = FilterSet(CurateConfig(), STORE)
    assert all(kept(dict(r)) == (None, []) for r in every_row), "a bundled example was filtered"
    ex = {**every_row[0], "query": "buy iphone 15 pro"}
    assert FilterSet(CurateConfig(off_domain="drop"), STORE)(dict(ex))[0] == "off-domain: competitor_purchase"
    reason, changes = FilterSet(CurateConfig(off_domain="policy"), STORE)(ex)
    assert reason is None and ex["target"] == {"refusal": "competitor_purchase"} and ex["kind"] == "policy" and changes


def test_a_catalogs_own_categories_and_brands_are_not_off_domain():
    """A retail catalog (tests' stand-in for a Walmart sample) sells DVD movies and Cricket
    Wireless plans; "movie" and "cricket" are default off-domain words."""
    catalog = [
        {"sku": "1", "category": "DVD Movies", "brand": "Disney"},
        {"sku": "2", "category": "prepaid plans", "brand": "Cricket Wireless"},
        {"sku": "3", "category": "puzzles", "brand": "Happy", "brand_inferred": True},
    ]
    shop = with_catalog_words(STORE, catalog)
    for query in ("disney dvd movies max 30", "cricket wireless prepaid plans for sale"):
        assert off_domain(query, STORE) == "off_domain" and off_domain(query, shop) is None, query
        ex = {**build_examples()[0], "query": query}
        assert FilterSet(CurateConfig(), shop)(ex)[0] is None
    for query in ("movie showtimes tonight", "cricket score today", "happy joke"):  # a brand read from a title
        assert off_domain(query, shop) == "off_domain", query
