"""The hand-written shopper queries jobs/bench_byo.py scores (jobs/bench_byo/*.yaml): enough of
them, of every kind, each answered by its rule on the real catalog, and kept out of every
training path."""

import sys
from pathlib import Path

import pytest
import yaml

from helpers import CONFIGS, REPO, read_scraped

sys.path.insert(0, str(REPO / "jobs"))
import bench_byo  # noqa: E402

FILES = sorted((REPO / "jobs" / "bench_byo").glob("*.yaml"))
KINDS = {"name", "brand", "feature", "budget", "typo", "vague", "colloquial", "two_constraint"}
RULE_KEYS = {"title", "any", "category", "text", "brand", "attributes", "price_max", "price_min", "region", "either"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_enough_queries_of_every_kind_each_with_a_rule(path):
    spec = yaml.safe_load(path.read_text())
    queries = spec["queries"]
    assert len(queries) >= 80 and {q["kind"] for q in queries} == KINDS
    assert len({q["q"] for q in queries}) == len(queries)
    assert all(set(q) - {"q", "kind"} and set(q) - {"q", "kind"} <= RULE_KEYS for q in queries)
    assert (CONFIGS / f"{spec['config']}.yaml").exists()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_rule_selects_products_of_its_catalog(path, monkeypatch):
    from skutune.config import load_config

    monkeypatch.chdir(REPO)  # catalog paths in the configs are relative to the repository
    spec = yaml.safe_load(path.read_text())
    cfg = load_config(CONFIGS / f"{spec['config']}.yaml")
    if not Path(cfg.data.catalog_path).exists():
        pytest.skip(f"{cfg.data.catalog_path} is not on this machine")
    rows, _, _ = read_scraped(cfg.data.catalog_path, cfg.store, cfg.data.catalog_columns)
    examples = bench_byo.examples_of(spec, rows)  # exits naming a query no product answers
    assert all(e["relevant"] for e in examples)
    row = {**rows[0], "title": "Snap Circuits Kit"}
    assert bench_byo.rule({"any": ["rc"]}, row, row["regions"][0]) is False  # whole words only


def test_the_queries_are_kept_out_of_training(tmp_path):
    """No library module or config reads them; the bench hands them to curate as an eval set to
    decontaminate against, so no training row shares an n-gram with one."""
    for path in [*(REPO / "platform").rglob("*.py"), *CONFIGS.rglob("*.yaml"), REPO / "serve" / "config.yaml"]:
        text = path.read_text()
        assert "bench_byo/" not in text and "_queries.jsonl" not in text, path
    spec = yaml.safe_load(FILES[0].read_text())
    cfg = bench_byo.bench_config(spec, {"run.output_dir": str(tmp_path)}, tmp_path)
    [held_out] = cfg.curate.decontam.eval_paths
    written = [yaml.safe_load(line)["query"] for line in Path(held_out).read_text().splitlines()]
    assert written == [q["q"] for q in spec["queries"]] and cfg.curate.decontam.enabled
