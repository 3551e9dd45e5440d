"""Constrained decoding on a random tiny model: whatever the weights, a constrained answer that
ends within its budget is valid JSON for the task and names only SKUs the region sells."""

import pytest

from skutune.schemas import is_valid, parse_answer
from skutune.serve.constrained import Grammars, constraints_for


@pytest.mark.parametrize("task", ["search", "qa"])  # compare's product names are unbounded strings
def test_constrained_answers_are_valid_and_region_grounded(task, tiny_model_dir):
    from helpers import demo_store
    from skutune.demo.catalog import build_catalog
    from skutune.generate import generate_ids, load_model

    tok, model = load_model(tiny_model_dir)
    catalog = {row["sku"]: row for row in build_catalog()}
    grammars = Grammars(tok, model.config.vocab_size, catalog, demo_store())
    regions = ["IN", "US", None]  # the last row decodes freely in the same batch
    rows = [grammars.get(task, r) if r else None for r in regions]
    out = generate_ids(tok, model, ["samsung fridge"] * 3, 96, constraints_for(rows))
    for region, ids in zip(regions[:2], out):
        assert ids[-1] == tok.eos_token_id, "the grammar should finish inside the budget"
        answer = parse_answer(tok.decode(ids, skip_special_tokens=True))
        assert is_valid(answer, task), answer
        assert all(region in catalog[sku]["regions"] for sku in answer["skus"])
    free = parse_answer(tok.decode(out[2], skip_special_tokens=True))  # free decoding: random text
    assert free is None or not is_valid(free, task), free


def test_a_constrained_parse_names_only_the_catalogs_brands_and_categories(tiny_model_dir):
    """The parse grammar's brand and category are enums of the catalog's values: even random
    weights cannot invent a brand (a real scraped catalog: tests/fixtures/amazon_sample.csv)."""
    import json
    import re

    import jsonschema
    import xgrammar as xgr

    from helpers import REPO, market_store, read_scraped
    from skutune.generate import generate_all, load_model, render
    from skutune.parse import parse_schema

    store = market_store(US={"currency": "USD", "symbol": "$"})
    rows, _, _ = read_scraped(REPO / "tests" / "fixtures" / "amazon_sample.csv", store)
    tok, model = load_model(tiny_model_dir)
    grammar = Grammars(tok, model.config.vocab_size, {r["sku"]: r for r in rows}, store).get("parse", "US")
    queries = ["lego set", "samzung fridge", "gift for a toddler", "puzzle under $20", "acme rocket skates", "x"]
    prompts = [render(tok, q, "US", "2026-06-01", store, target="parse") for q in queries]
    texts = generate_all(tok, model, prompts, 6, 160, grammar=grammar)
    brands, categories = {r["brand"] for r in rows}, {r["category"] for r in rows}
    named = [(k, v) for t in texts for k, v in re.findall(r'"(brand|category)":"((?:[^"\\]|\\.)*)"', t)]
    assert all(json.loads(f'"{v}"') in (brands if k == "brand" else categories) for k, v in named), named
    start = '{"intent":"search","region":"US","query":"lego set",'
    for key, value, ok in [("brand", "LEGO", True), ("brand", "Legoland", False), ("brand", "Samsung", False)] + [
        ("category", "building sets", True),
        ("category", "bricks", False),
    ]:
        matcher = xgr.GrammarMatcher(grammar)
        assert matcher.accept_string(f'{start}"{key}":"{value}",') is ok, (key, value)
    # limits in the order the training targets write them: the currency after the price (with the
    # currency as a declared property, xgrammar allowed it only first, and a tuned model looped on keys)
    matcher = xgr.GrammarMatcher(grammar)
    assert matcher.accept_string(f'{start}"constraints":{{"price_max":30,"currency":"USD"}}}}')
    assert matcher.is_terminated() or matcher.accept_token(tok.eos_token_id)
    # bounded: a weak model cannot repeat a value or a key until its budget runs out
    assert not xgr.GrammarMatcher(grammar).accept_string(f'{start}"attributes":{{"ram":"{"ent" * 30}"')
    keys = ",".join(f'"k{i}_max":1' for i in range(9))
    assert not xgr.GrammarMatcher(grammar).accept_string(f'{start}"constraints":{{{keys}}}')
    schema = parse_schema(store, rows)
    for text in texts:
        if (parse := parse_answer(text)) is not None:  # finished inside the budget: valid under the enums
            jsonschema.validate(parse, schema)
    free = generate_all(tok, model, prompts, 6, 160)
    assert not any(parse_answer(t) for t in free)  # without the grammar: random text
