"""Structured query understanding: raw query -> a JSON parse the catalog can execute.

The tuned model's job in grounded search is to understand the query (fix typos, name the
category, the attributes and the numeric limits), not to remember SKUs: the catalog index
answers with products, so new SKUs are searchable without retraining.

A parse, with every key but `intent`, `query` and `region` optional:
    {"intent": "search", "region": "IN", "query": "lg fridge for family of 4 under ₹50,000",
     "category": "refrigerator", "brand": "LG", "attributes": {"door": "double door"},
     "constraints": {"price_max": 50000, "currency": "INR", "family_size_min": 4}}
Attributes are exact matches on catalog attributes (`use` matches the SKU's use-case tags);
constraints are numeric limits: `price_min/price_max` in `currency`, `<attribute>_min/_max`.
"""

import copy

from skutune.prompts import normalize_query
from skutune.schemas import TASK_OF_KIND

INTENTS = ("search", "compare", "qa", "refusal")
# Bounds a constrained decode cannot run past: a weakly tuned model otherwise repeats an attribute
# value or a limit key until its token budget ends (seen on a 97-row cold start), and the parse is lost.
MAX_TEXT = 80  # characters of a product, campaign, topic or attribute value
MAX_KEYS = 8  # attributes, and limits
_SCALAR = {"type": ["string", "number", "boolean"], "maxLength": MAX_TEXT}
_TEXT = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}
PARSE_SCHEMA = {  # the store's regions, currencies and refusal codes are filled in by `parse_schema`
    "type": "object",
    "properties": {
        "intent": {"enum": list(INTENTS)},
        "region": {"type": "string", "minLength": 1},
        "query": {"type": "string", "minLength": 1},
        "product": _TEXT,
        "category": {"type": "string", "minLength": 1},
        "brand": {"type": "string", "minLength": 1},
        "attributes": {"type": "object", "additionalProperties": _SCALAR, "maxProperties": MAX_KEYS},
        "constraints": {  # keys as patterns only: xgrammar requires `properties` before any pattern key, and
            "type": "object",  # the training targets write the limits first ({"price_max":..,"currency":..})
            "patternProperties": {
                "^currency$": {"type": "string", "pattern": "^[A-Z]{3}$"},
                "^(price|[a-z0-9_]+)_(min|max)$": {"type": "number"},
            },
            "additionalProperties": False,
            "maxProperties": MAX_KEYS,
        },
        "campaign": _TEXT,
        "topic": _TEXT,
        "compare": {"type": "array", "items": _TEXT, "minItems": 2, "maxItems": 2},
        "refusal": {"type": "string", "minLength": 1},
    },
    "required": ["intent", "region", "query"],
    "additionalProperties": False,
}
PARSE_KEYS = tuple(PARSE_SCHEMA["properties"])  # the order keys are written in


def parse_schema(store, catalog_rows=None) -> dict:
    """The parse schema with `store`'s regions, currencies and refusal codes as enums; given the
    catalog, `brand` and `category` are enums of its own values too, so a parse decoded under it
    cannot name a brand or a category the catalog lacks."""
    schema = copy.deepcopy(PARSE_SCHEMA)
    props = schema["properties"]
    props["region"] = {"enum": list(store.regions)}
    props["constraints"]["patternProperties"]["^currency$"] = {
        "enum": sorted({r.currency for r in store.regions.values()})
    }
    props["refusal"] = {"enum": list(store.refusal_codes)}
    if catalog_rows:
        props["brand"] = {"enum": sorted({r["brand"] for r in catalog_rows if r.get("brand")})}
        props["category"] = {"enum": sorted({r["category"] for r in catalog_rows})}
    return schema


def is_constraint(key: str) -> bool:
    return key == "currency" or key.endswith(("_min", "_max"))


def split_spec(spec: dict) -> tuple[dict, dict]:
    """A flat spec ({"door": "double door", "capacity_l_min": 400}) -> (attributes, constraints)."""
    attrs = {k: v for k, v in spec.items() if not is_constraint(k)}
    cons = {k: v for k, v in spec.items() if is_constraint(k)}
    return attrs, cons


def ordered(parse: dict) -> dict:
    return {k: parse[k] for k in PARSE_KEYS if parse.get(k) not in (None, {}, [], "")}


def build_parse(
    kind: str, query: str, region: str, relevant_rows: list[dict], spec: dict | None = None, brands: tuple = (), **extra
) -> dict:
    """The understanding target for a labelled query: what the shopper asked for, in catalog
    terms. `relevant_rows` (the right answers) name the category and, for a single product
    family, the product; `spec` carries the attributes and limits; `extra` the task fields
    (campaign, topic, compare, refusal, product). `brands`: words that, in the query, make the
    relevant rows' brand part of the parse."""
    parse = {"intent": TASK_OF_KIND.get(kind, "search"), "region": region, "query": normalize_query(query)}
    categories = {r["category"] for r in relevant_rows}
    if len(categories) == 1:
        parse["category"] = categories.pop()
    families = {r["family_name"] for r in relevant_rows}
    if len(families) == 1 and kind in ("model_code", "competitor", "qa"):
        parse["product"] = families.pop()
    words = set(parse["query"].split())
    brand = next((r.get("brand") for r in relevant_rows if r.get("brand") and words & set(brands)), None)
    if brand:
        parse["brand"] = brand
    parse["attributes"], parse["constraints"] = split_spec(spec or {})
    parse.update(extra)
    return ordered(parse)
