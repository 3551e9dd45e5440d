"""Metrics on hand-made predictions, with exact expected values."""

import pytest

from skutune.demo.catalog import build_catalog
from skutune.eval.metrics import score_texts

CATALOG = {r["sku"]: r for r in build_catalog()}


def ex(kind, task, relevant, constraints, target=None):
    return {
        "id": kind,
        "kind": kind,
        "task": task,
        "relevant": relevant,
        "constraints": constraints,
        "target": target or {},
    }


FRIDGE = ex("budget", "search", ["RT345-SV", "RT345-BK"], {"region": "IN", "max_price": 50000, "min_family_size": 4})
PHONE = ex("vague", "search", ["S24U-256-BK"], {"region": "US"})
QA = ex("qa", "qa", ["S24-128-BK"], {"region": "IN", "answer": "yes"})
POLICY = ex("policy", "refusal", [], {})


def test_exact_metric_values():
    examples = [FRIDGE, PHONE, QA, POLICY]
    texts = [
        '{"skus":["RT415-SV","RT345-SV"]}',  # valid; relevant only at rank 2; RT415 breaks budget (56,990)
        '{"skus":["S99-ULTRA","S24U-256-BK"]}',  # a hallucinated SKU first: fails hit@1 and constraints
        '{"answer":"yes, Qi wireless up to 15W","skus":["S24-128-BK"]',  # truncated JSON: invalid, not parsed
        "Sure! Here is a poem about the monsoon...",  # no refusal, no JSON
    ]
    summary, scores = score_texts(examples, texts, CATALOG)
    assert summary["json_valid"] == pytest.approx(2 / 4)
    assert summary["schema_match"] == pytest.approx(2 / 4)
    assert summary["hit_at_1"] == pytest.approx(0 / 3)
    assert summary["hit_at_5"] == pytest.approx(2 / 3)
    assert summary["hallucinated_sku_rate"] == pytest.approx(1 / 4)  # 4 SKUs output, one unknown
    assert summary["constraint_satisfaction"] == pytest.approx(0 / 3)
    assert summary["qa_accuracy"] == pytest.approx(0.0)
    assert summary["policy_compliance"] == pytest.approx(0.0)
    assert summary["by_kind"]["budget"]["hit_at_5"] == 1.0 and summary["by_kind"]["vague"]["hit_at_1"] == 0.0


def test_perfect_answers_score_one():
    examples = [FRIDGE, PHONE, QA, POLICY]
    texts = [
        '{"skus":["RT345-SV"]}',
        '{"skus":["S24U-256-BK"]}',
        '{"answer":"yes, Qi wireless charging up to 15W","skus":["S24-128-BK"]}',
        '{"refusal":"off_domain"}',
    ]
    summary, _ = score_texts(examples, texts, CATALOG)
    for m in (
        "json_valid",
        "schema_match",
        "hit_at_1",
        "hit_at_5",
        "constraint_satisfaction",
        "qa_accuracy",
        "policy_compliance",
    ):
        assert summary[m] == 1.0, m
    assert summary["hallucinated_sku_rate"] == 0.0 and summary["false_refusal_rate"] == 0.0


def test_region_and_wrong_answer():
    examples = [ex("regional", "search", ["RF550-SV"], {"region": "US"}), QA]
    texts = ['{"skus":["RT345-SV"]}', '{"answer":"no","skus":["S24-128-BK"]}']  # RT345 is not sold in the US
    summary, _ = score_texts(examples, texts, CATALOG)
    assert summary["constraint_satisfaction"] == 0.5  # the QA answer's SKU is sold in IN
    assert summary["qa_accuracy"] == 0.0 and summary["json_valid"] == 1.0


def test_valid_json_of_the_wrong_task():
    summary, _ = score_texts([POLICY, QA], ['{"skus":["RT345-SV"]}', '{"refusal":"medical"}'], CATALOG)
    assert summary["json_valid"] == 1.0 and summary["schema_match"] == 0.0
    assert summary["policy_compliance"] == 0.0 and summary["false_refusal_rate"] == 1.0
