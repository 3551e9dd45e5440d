"""Cold-start queries from a real scraped catalog (tests/fixtures/amazon_sample.csv, 55 rows of the
public Amazon sample): every kind of the profile, shopper phrasings, at least 80% training rows,
and labels the query-time rules agree with."""

import re
from collections import Counter

import pytest

from helpers import REPO, read_scraped
from skutune.data.coldstart import family_alias, synth_queries
from skutune.data.lexicon import misspell_word, nice_amount
from skutune.data.stages import contamination, eval_grams
from skutune.search.budget import extract_budget
from skutune.store import StoreProfile

KINDS = ["model_code", "typo", "feature", "budget", "colloquial", "vague"]
STORE = StoreProfile.model_validate(
    {"name": "Toys", "regions": {"US": {"currency": "USD", "symbol": "$"}}, "marketplace": True, "query_kinds": KINDS}
)


@pytest.fixture(scope="module")
def catalog():
    rows, _, _ = read_scraped(REPO / "tests" / "fixtures" / "amazon_sample.csv", STORE)
    return rows


@pytest.fixture(scope="module")
def queries(catalog):
    return synth_queries(catalog, STORE, seed=3)


def test_every_kind_and_most_rows_train(queries):
    kinds = Counter(q["kind"] for q in queries)
    assert set(kinds) == set(KINDS), kinds
    assert sum(q["split"] == "train" for q in queries) >= 0.8 * len(queries)
    assert any(q["split"] == "test" for q in queries)
    train = {q["template"] for q in queries if q["split"] == "train"}
    test = {q["template"] for q in queries if q["split"] == "test"}
    assert not train & test  # held-out phrasings


def test_only_the_profiles_kinds(catalog):
    store = STORE.model_copy(update={"query_kinds": ["model_code", "budget"]})
    assert {q["kind"] for q in synth_queries(catalog, store, seed=3)} == {"model_code", "budget"}


def test_budgets_in_many_phrasings_that_the_rule_reads_as_labelled(queries):
    budgets = [q for q in queries if q["kind"] == "budget"]
    for q in budgets:
        limits = {k: v for k, v in q["parse"]["constraints"].items()}
        assert extract_budget(q["query"], "US", STORE) == limits, q["query"]
    cues = {c for q in budgets for c in ("under", "below", "less than", "upto", "max", "within") if c in q["query"]}
    forms = {
        "symbol" if "$" in q["query"] else "word" if re.search(r"dollars?|usd|bucks", q["query"]) else "bare"
        for q in budgets
    }
    assert len(cues) >= 4 and forms == {"symbol", "word", "bare"}, (cues, forms)


def test_misspellings_keep_the_correct_parse(queries):
    typos = [q for q in queries if q["kind"] == "typo"]
    assert typos
    for q in typos:
        assert q["query"] != q["parse"]["query"]  # the query is misspelt, the parse is not
        assert len(q["query"].split()) == len(q["parse"]["query"].split())


def test_uses_and_synonyms_come_from_the_catalog_and_the_lexicon(catalog, queries):
    described = " ".join(r["description"].lower() for r in catalog)
    for q in (q for q in queries if q["kind"] == "vague"):
        use = re.sub(r"^(something for|gift for|what should i buy for|ideas for|\S+( \S+)* for) ", "", q["query"])
        assert use in described, q["query"]
    colloquial = [q for q in queries if q["kind"] == "colloquial"]
    assert colloquial and all(q["parse"]["category"] in {r["category"] for r in catalog} for q in colloquial)


def test_a_product_without_a_series_is_not_named_in_the_parse(queries):
    names = [q for q in queries if q["kind"] == "model_code"]
    assert names and not any("product" in q["parse"] for q in names)  # no 20-word title to echo


def test_decontamination_compares_templates_not_product_names():
    train = {
        "query": "buy lego creator expert gingerbread house 10267 building kit",
        "template": "model_code:buy {name}",
    }
    same_name = {"query": "looking for the lego creator expert gingerbread house 10267 building kit online"}
    held = {
        "templates": {"model_code:looking for the {name} online"},
        "queries": eval_grams([same_name["query"]], 8),
        "eval_paths": eval_grams(["gingerbread house"], 8),
    }
    assert contamination({**train, "template": ""}, held, 8)  # compared on its query: the name's 8-gram
    assert contamination(train, {**held, "eval_paths": (set(), set())}, 8) is None  # on its template: clean
    assert contamination({**train, "template": "model_code:looking for the {name} online"}, held, 8)
    assert contamination(train, held, 8) == "gingerbread house"  # a hand-written eval query always counts


@pytest.mark.parametrize("price, step, amount", [(23.5, 1, 25), (180, 1, 200), (9.99, 1, 10), (44990, 5000, 45000)])
def test_nice_amount(price, step, amount):
    assert nice_amount(price, step) == amount


def test_misspell_word_makes_one_slip():
    import random

    rng = random.Random(0)
    slips = {misspell_word("puzzle", rng) for _ in range(40)}
    assert "puzzle" not in slips or len(slips) > 5
    assert len(slips) >= 5 and all(abs(len(s) - 6) <= 1 for s in slips)


@pytest.mark.parametrize(
    "family, category, alias",
    [
        ("Bespoke Refrigerator", "refrigerators", "bespoke"),  # the category's word, in either number
        ("Neo QLED QN90D TV", "tv", "neo qled qn90d"),
        ("Stuffed Animals Lion", "stuffed animals & teddy bears", "lion"),
        ("Odyssey G7 Monitor", "toys", "odyssey g7 monitor"),  # no store's category words elsewhere
        ("Monitor", "monitor", "monitor"),  # nothing left: the name as it is
    ],
)
def test_family_alias_drops_only_its_own_categorys_words(family, category, alias):
    assert family_alias(family, category) == alias
