"""Published JSON Schemas for every task's answer, and the validator eval and serve use."""

import json

import jsonschema

SKU_LIST = {
    "type": "array",
    "items": {"type": "string", "pattern": "^[A-Z0-9]+(-[A-Z0-9]+)*$"},
    "minItems": 1,
    "maxItems": 5,
}

SCHEMAS = {
    # model codes, colloquial, feature, vague, budget, typo, competitor, regional, seasonal
    "search": {"type": "object", "properties": {"skus": SKU_LIST}, "required": ["skus"], "additionalProperties": False},
    # "S23 Ultra vs iPhone 15 Pro Max": the two products compared, and the store's SKUs involved
    "compare": {
        "type": "object",
        "properties": {
            "compare": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2},
            "skus": SKU_LIST,
        },
        "required": ["compare", "skus"],
        "additionalProperties": False,
    },
    # product Q&A answered from catalog facts
    "qa": {
        "type": "object",
        "properties": {"answer": {"type": "string", "minLength": 1}, "skus": SKU_LIST},
        "required": ["answer", "skus"],
        "additionalProperties": False,
    },
    # medical advice, off-domain, toxic, competitor purchase: refuse with a reason code
    "refusal": {
        "type": "object",
        "properties": {"refusal": {"enum": ["medical", "off_domain", "toxic", "competitor_purchase"]}},
        "required": ["refusal"],
        "additionalProperties": False,
    },
}

TASK_OF_KIND = {"comparison": "compare", "qa": "qa", "policy": "refusal"}  # every other kind is "search"


def task_for(kind: str) -> str:
    return TASK_OF_KIND.get(kind, "search")


def parse_answer(text: str):
    """The first JSON object in a model's answer, or None. Models may add text after it."""
    text = text.strip()
    start = text.find("{")
    if start < 0:
        return None
    try:
        obj, _ = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def is_valid(answer, task: str) -> bool:
    if answer is None:
        return False
    return jsonschema.Draft202012Validator(SCHEMAS[task]).is_valid(answer)


def skus_of(answer) -> list[str]:
    """SKUs an answer names, in order; tolerant of a wrong shape (eval counts that elsewhere)."""
    if not isinstance(answer, dict) or not isinstance(answer.get("skus"), list):
        return []
    return [s for s in answer["skus"] if isinstance(s, str)]
