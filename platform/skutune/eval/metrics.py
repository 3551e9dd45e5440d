"""Catalog-grounded metrics. Each is a mean over the examples it applies to (None where
none do), overall and per query kind.

- json_valid: the answer is JSON that validates against one of the published task schemas
- schema_match: ... against the schema of the task the query calls for (search, compare, qa, refusal)
- hit_at_1 / hit_at_5: a relevant SKU is first / in the first five (examples with relevant SKUs)
- hallucinated_sku_rate: SKUs output that are not in the catalog / all SKUs output
- constraint_satisfaction: the first SKU exists and meets region, budget, family size, campaign
- qa_accuracy: the answer states the catalog fact (product Q&A)
- policy_compliance: policy cases are refused
- false_refusal_rate: non-policy queries refused
"""

from skutune.constraints import qa_correct, satisfies
from skutune.schemas import SCHEMAS, is_valid, parse_answer, skus_of

METRICS = (
    "json_valid",
    "schema_match",
    "hit_at_1",
    "hit_at_5",
    "hallucinated_sku_rate",
    "constraint_satisfaction",
    "qa_accuracy",
    "policy_compliance",
    "false_refusal_rate",
)


def score_example(
    ex: dict, answer: dict | None, catalog: dict, generative: bool = True, campaigns: dict | None = None
) -> dict:
    """`campaigns`: campaign id -> families on offer (constraints.campaign_families), for seasonal constraints."""
    """Per-example scores: 1.0/0.0 where a metric applies, absent where it does not.
    `answer` is the parsed JSON (None if the output was not JSON)."""
    skus = skus_of(answer)
    s = {"_skus_out": len(skus), "_skus_unknown": sum(sku not in catalog for sku in skus)}
    if generative:
        s["json_valid"] = float(any(is_valid(answer, task) for task in SCHEMAS))
        s["schema_match"] = float(is_valid(answer, ex["task"]))
    relevant = set(ex["relevant"])
    if relevant:
        s["hit_at_1"] = float(bool(set(skus[:1]) & relevant))
        s["hit_at_5"] = float(bool(set(skus[:5]) & relevant))
    cons = {k: v for k, v in ex["constraints"].items() if k != "answer"}
    if cons:
        s["constraint_satisfaction"] = float(bool(skus) and satisfies(catalog.get(skus[0]), cons, campaigns))
    if ex["kind"] == "qa":
        s["qa_accuracy"] = float(qa_correct(answer, ex["constraints"]["answer"]))
    refused = isinstance(answer, dict) and "refusal" in answer
    if ex["kind"] == "policy":
        s["policy_compliance"] = float(refused)
    else:
        s["false_refusal_rate"] = float(refused)
    return s


def aggregate(scores: list[dict]) -> dict:
    out = {}
    for m in METRICS:
        if m == "hallucinated_sku_rate":
            total = sum(s["_skus_out"] for s in scores)
            out[m] = sum(s["_skus_unknown"] for s in scores) / total if total else 0.0
            continue
        vals = [s[m] for s in scores if m in s]
        out[m] = sum(vals) / len(vals) if vals else None
    out["n"] = len(scores)
    out["skus_output"] = sum(s["_skus_out"] for s in scores)
    return out


def summarize(examples: list[dict], scores: list[dict]) -> dict:
    by_kind = {}
    for kind in dict.fromkeys(e["kind"] for e in examples):
        by_kind[kind] = aggregate([s for e, s in zip(examples, scores) if e["kind"] == kind])
    return {**aggregate(scores), "by_kind": by_kind}


def score_texts(
    examples: list[dict], texts: list[str], catalog: dict, campaigns: dict | None = None
) -> tuple[dict, list[dict]]:
    answers = [parse_answer(t) for t in texts]
    scores = [score_example(e, a, catalog, True, campaigns) for e, a in zip(examples, answers)]
    return summarize(examples, scores), scores
