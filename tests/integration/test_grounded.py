"""Grounded search without the model in the way: parse targets, the versioned incremental
index (real Ray Data embedding, real faiss), filters and their relaxation, and the retrieval
engine run on the gold parses of the test split against BM25 and dense."""

import json

import jsonschema
import pytest

from helpers import demo_store
from skutune.constraints import campaign_families
from skutune.demo.catalog import build_catalog
from skutune.demo.examples import build_examples, sample_split
from skutune.demo.synth import synth_catalog
from skutune.eval.baselines import BASELINES
from skutune.eval.metrics import score_example, summarize
from skutune.parse import parse_schema
from skutune.search.grounded import GroundedSearch, apply_filters, read_parse
from skutune.search.index import build_index, current_version
from skutune.search.retrieval import CatalogIndex

STORE = demo_store()


@pytest.fixture(scope="module")
def bundled_index(ray_local, tmp_path_factory):
    d = tmp_path_factory.mktemp("index")
    build_index(build_catalog(), d, actors=1)
    return CatalogIndex.load(d)


def test_every_example_has_a_schema_valid_parse():
    validator = jsonschema.Draft202012Validator(parse_schema(STORE))
    rows = build_examples()
    for e in rows:
        validator.validate(e["parse"])
    typo = next(e for e in rows if e["kind"] == "typo" and "samzung" in e["query"])
    assert "samzung" not in typo["parse"]["query"] and "samsung" in typo["parse"]["query"]
    budget = next(e for e in rows if e["kind"] == "budget")
    assert budget["parse"]["constraints"]["price_max"] > 0 and budget["parse"]["constraints"]["currency"]


def test_gold_parses_beat_bm25_and_dense_with_no_hallucinated_sku(bundled_index):
    """The ceiling of grounded search: perfect understanding, real retrieval and filters."""
    catalog = {r["sku"]: r for r in bundled_index.rows}
    examples = sample_split(build_examples(), "test", 10)
    search = GroundedSearch(bundled_index, STORE)
    answers = [search.search(e["query"], e["parse"], e["region"])["answer"] for e in examples]
    grounded = summarize(
        examples, [score_example(e, a, catalog, True, campaign_families(STORE)) for e, a in zip(examples, answers)]
    )
    assert grounded["hallucinated_sku_rate"] == 0.0
    for name, cls in BASELINES.items():
        base = summarize(
            examples,
            [
                score_example(e, a, catalog, False)
                for e, a in zip(examples, cls(bundled_index.rows, STORE).answers(examples))
            ],
        )
        assert grounded["hit_at_1"] > base["hit_at_1"], name
        for kind in ("budget", "typo", "vague"):
            assert grounded["by_kind"][kind]["hit_at_1"] >= base["by_kind"][kind]["hit_at_1"], (name, kind)


def test_filters_are_reported_and_relaxed_not_emptied(bundled_index):
    parse = {
        "intent": "search",
        "region": "IN",
        "query": "fridge",
        "category": "refrigerator",
        "attributes": {"door": "double door", "colour": "Purple"},
        "constraints": {"price_max": 50000, "currency": "INR"},
    }
    mask, applied, relaxed = apply_filters(bundled_index, parse, "IN", {}, "INR")
    assert applied == ["region=IN", "category=refrigerator", "price_max=50000", "door=double door"]
    assert relaxed == ["colour=Purple"]
    rows = [bundled_index.rows[i] for i in mask.nonzero()[0]]
    assert rows and all(r["prices"]["IN"] <= 50000 and r["attributes"]["door"] == "double door" for r in rows)


def test_incremental_update_embeds_only_what_changed_and_is_searchable(ray_local, tmp_path):
    base = synth_catalog(60, seed=3, prefix="OLD")
    build_index(base, tmp_path, actors=1, ann_min_rows=50)  # ann_min_rows: exercise the faiss path
    new = synth_catalog(6, seed=4, prefix="NEW")
    changed = dict(base[0], title=base[0]["title"] + " (2026 edition)")
    meta = build_index([changed, *base[2:], *new], tmp_path, actors=1, ann_min_rows=50)
    assert current_version(tmp_path).name == "v0002" and meta["parent"] == "v0001"
    assert (meta["embedded"], meta["added"], meta["changed"], meta["removed"]) == (7, 6, 1, 1)
    index = CatalogIndex.load(tmp_path)
    assert index.ann is not None and index.ann.ntotal == len(index) == 65
    assert base[1]["sku"] not in index.by_sku
    target = new[0]
    parse = {"intent": "search", "region": target["regions"][0], "query": target["family_name"].lower()}
    got = GroundedSearch(index, STORE).search(parse["query"], parse, parse["region"])
    assert got["answer"]["skus"][0] in {r["sku"] for r in new if r["family"] == target["family"]}
    json.dumps(got)  # a result is plain JSON


def test_a_campaign_named_in_the_query_filters_even_if_the_parse_missed_it(bundled_index):
    parse = {
        "intent": "search",
        "region": "IN",
        "query": "what fridge is cheaper this diwali",
        "category": "refrigerator",
    }
    got = GroundedSearch(bundled_index, STORE).search(parse["query"], parse, "IN")
    assert "campaign=diwali" in got["applied"] and "campaign" not in got["parse"]
    diwali = next(c for c in STORE.campaigns if c.id == "diwali").families
    assert all(bundled_index.by_sku[s]["family"] in diwali for s in got["answer"]["skus"])


def test_a_category_the_querys_own_words_contradict_is_dropped(bundled_index):
    """A small model files a named product under the wrong category; the query's words are
    evidence: the guess is relaxed (and reported), and a category the words agree with stays."""
    wrong = {"intent": "search", "region": "IN", "query": "galaxy s24 ultra", "category": "refrigerator"}
    found = GroundedSearch(bundled_index, STORE).search("galaxy s24 ultra", wrong, "IN")
    assert "category=refrigerator" in found["relaxed"]
    assert bundled_index.by_sku[found["answer"]["skus"][0]]["family_name"] == "Galaxy S24 Ultra"
    trusting = GroundedSearch(bundled_index, STORE, contradictions=False).search("galaxy s24 ultra", wrong, "IN")
    assert bundled_index.by_sku[trusting["answer"]["skus"][0]]["category"] == "refrigerator"  # what the guard fixes
    right = {**wrong, "query": "fridge for a family of 4", "category": "refrigerator"}
    kept = GroundedSearch(bundled_index, STORE).search("fridge for a family of 4", right, "IN")
    assert "category=refrigerator" in kept["applied"]


def test_a_query_without_catalog_words_keeps_only_a_category_its_meaning_agrees_with(bundled_index):
    """No word of "keep my drinks chilled" is in the catalog, so words cannot contradict a guessed
    category; the query's meaning can: a category with nothing among the nearest products by
    dense retrieval is relaxed, and one with something there stays."""
    wrong = {"intent": "search", "region": "IN", "query": "keep my drinks chilled", "category": "phone"}
    found = GroundedSearch(bundled_index, STORE).search(wrong["query"], wrong, "IN")
    assert "category=phone" in found["relaxed"]
    assert bundled_index.by_sku[found["answer"]["skus"][0]]["category"] == "refrigerator"
    right = {**wrong, "category": "refrigerator"}
    assert (
        "category=refrigerator" in GroundedSearch(bundled_index, STORE).search(right["query"], right, "IN")["applied"]
    )
    # the shopper's words decide, not the parse's rewrite: a garbled parse query matches nothing,
    # but "fridge for a family of 4" does, so there is no call for meaning to overrule the category
    garbled = {**right, "query": "xqzvk"}
    kept = GroundedSearch(bundled_index, STORE).search("fridge for a family of 4", garbled, "IN")
    assert "category=refrigerator" in kept["applied"]


def test_words_the_catalog_lacks_do_not_let_bm25_outvote_meaning(bundled_index):
    """BM25 ranks by the few words of a query the catalog has ("samsung", "tv"), so its vote in
    the fusion weighs by their share: what the rest of the words mean picks the product. With an
    equal vote, "in-ear headphones without wires" found a soundbar and "tv speaker bar" a monitor."""
    search = GroundedSearch(bundled_index, STORE)
    for query, want in (
        ("samsung in-ear headphones without wires", "Buds"),
        ("tv speaker bar from samsung", "Soundbar"),
    ):
        parse = {"intent": "search", "region": "EU", "query": query}
        top = search.search(query, parse, "EU")["answer"]["skus"][0]
        assert want in bundled_index.by_sku[top]["title"], (query, bundled_index.by_sku[top]["title"])
    assert bundled_index.coverage("tv speaker bar from samsung") < 1.0 == bundled_index.coverage("samsung soundbar")


def test_a_parse_that_garbles_the_shoppers_catalog_words_retrieves_by_the_shoppers_words(bundled_index):
    """The model rewrote "tapo tc82 camera" as "tapec82 camera" on a retail catalog and the
    rewrite retrieved nothing like it: when the shopper's own words hold more catalog words than
    the rewrite, they are what retrieval reads."""
    garbled = {"intent": "search", "region": "IN", "query": "galxay book edj"}
    top = GroundedSearch(bundled_index, STORE).search("galaxy book4 edge", garbled, "IN")["answer"]["skus"][0]
    assert bundled_index.by_sku[top]["family_name"] == "Galaxy Book4 Edge", bundled_index.by_sku[top]["title"]


def test_a_repeated_query_reuses_its_vector_and_finds_the_same_products(bundled_index):
    """A head query answered from the parse cache skips the model; its MiniLM pass is remembered
    too, so the second search runs no encoder and ranks exactly as the first."""
    search, parse = GroundedSearch(bundled_index, STORE), {"intent": "search", "region": "IN", "query": "quiet ac"}
    first = search.search("quiet ac", parse, "IN")["answer"]
    before = bundled_index._embed.cache_info()
    assert search.search("quiet ac", parse, "IN")["answer"] == first
    after = bundled_index._embed.cache_info()
    assert after.hits > before.hits and after.misses == before.misses
    assert not bundled_index.embed("quiet ac").flags.writeable  # a shared vector nobody may change


def test_head_parses_retrieved_ahead_leave_their_hits_no_encoder_pass(bundled_index):
    """The app warms the parse cache's head queries when a table or index goes live: a hit's
    search then runs no MiniLM pass, and finds what a cold search finds."""
    search = GroundedSearch(bundled_index, STORE)
    text = '{"intent":"search","region":"IN","query":"silent split ac","category":"ac"}'
    assert search.warm([("IN", "silent split ac", text)]) == 1
    before = bundled_index._embed.cache_info()
    found = search.search("silent split ac", read_parse(text, "silent split ac", "IN", STORE)[0], "IN")
    after = bundled_index._embed.cache_info()
    assert after.misses == before.misses and after.hits > before.hits
    assert found["answer"]["skus"] and all(bundled_index.by_sku[s]["category"] == "ac" for s in found["answer"]["skus"])


def test_what_the_store_refuses_is_refused_whatever_the_parse(bundled_index):
    """A small model parses "what is the capital of australia" as a fridge search (the demo's
    eval did); the store's off-domain words flag it and no other word of it matches a product.
    A product beside an off-domain word keeps the parse, and so does an ablation without the guard."""
    fridge = {
        "intent": "search",
        "region": "IN",
        "query": "what is the capital of australia",
        "category": "refrigerator",
    }
    guarded = GroundedSearch(bundled_index, STORE).search(fridge["query"], fridge, "IN")
    assert guarded["answer"] == {"refusal": "off_domain"} and guarded["policy"] == "off_domain"
    bought = GroundedSearch(bundled_index, STORE).search("buy iphone 15 pro", {**fridge, "query": "iphone"}, "IN")
    assert bought["answer"] == {"refusal": "competitor_purchase"}
    unguarded = GroundedSearch(bundled_index, STORE, policy=False).search(fridge["query"], fridge, "IN")
    assert unguarded["answer"]["skus"] and "policy" not in unguarded
    cricket = {"intent": "search", "region": "IN", "query": "tv for cricket matches", "category": "tv"}
    kept = GroundedSearch(bundled_index, STORE).search(cricket["query"], cricket, "IN")
    assert kept["answer"]["skus"] and "policy" not in kept


def test_the_decoders_hint_guesses_the_category_of_most_gold_parses(bundled_index):
    """GroundedSearch.hint, what the Serve app drafts a lone parse from: the request's echo as a
    parse writes it, and the category of BM25's best match, the gold parse's for most queries
    (a guess from about a dozen categories: 76 of 108 here)."""
    search = GroundedSearch(bundled_index, STORE)
    examples = [e for e in sample_split(build_examples(), "test", 10) if e["parse"].get("category")]
    hints = [json.loads(search.hint(e["query"], e["region"])) for e in examples]
    right = sum(h.get("category") == e["parse"]["category"] for h, e in zip(hints, examples))
    assert len(examples) > 20 and right >= 0.6 * len(examples), (right, len(examples))
    assert all(h["region"] == e["region"] and h["intent"] == "search" for h, e in zip(hints, examples))
    assert "category" not in json.loads(search.hint("hello there", "IN"))  # no catalog word: no guess
