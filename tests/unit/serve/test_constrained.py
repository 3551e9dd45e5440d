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
    assert parse_answer(tok.decode(out[2], skip_special_tokens=True)) is None  # free decoding: random text
