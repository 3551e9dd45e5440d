"""Cold start: labelled training and test queries generated from a catalog alone, so a brand
that brings only its catalog (no query logs, no hand labels) can train the understanding
adapter and evaluate grounded search.

From every product family it writes model-name queries, attribute queries, budget queries and
misspelt variants, each with its relevant SKUs (the family, or every SKU meeting the stated
attribute or price in the region) and its parse target. Train and test use disjoint templates.
"""

import random
from collections import defaultdict

from skutune.parse import build_parse

TEMPLATES = {
    "model_code": {
        "train": ["{name}", "buy {name}", "{name} price", "show me {name}"],
        "test": ["looking for the {name} online", "is the {name} available"],
    },
    "feature": {"train": ["{noun} {feat}", "{brand} {noun} {feat}"], "test": ["i need a {noun} {feat}"]},
    "budget": {
        "train": ["{noun} under {sym}{amt}", "{noun} below {sym}{amt}"],
        "test": ["{noun} for less than {sym}{amt}"],
    },
}
TYPO_RATE = 0.5  # share of model-name queries that also get a misspelt copy


def family_alias(family_name: str, category: str) -> str:
    """How a shopper types a product: its family name, lower case, without the category word."""
    words = [w for w in family_name.lower().split() if w not in (category.lower(), "tv", "refrigerator", "monitor")]
    return " ".join(words) or family_name.lower()


def misspell(text: str, rng: random.Random) -> str:
    """Drop or swap one letter inside the longest word: "refrigerator" -> "refrigeartor"."""
    words = text.split()
    i = max(range(len(words)), key=lambda j: len(words[j]))
    w = words[i]
    if len(w) < 4:
        return text
    k = rng.randrange(1, len(w) - 2)
    words[i] = w[:k] + w[k + 1] + w[k] + w[k + 2 :] if rng.random() < 0.5 else w[:k] + w[k + 1 :]
    return " ".join(words)


def _feature_phrase(key: str, value) -> str | None:
    if isinstance(value, bool):
        return f"with {key.replace('_', ' ')}" if value else None
    if isinstance(value, (int, float, str)) and len(str(value)) <= 20:
        return f"with {key.replace('_', ' ')} {value}"
    return None


class _Writer:
    def __init__(self, rows, seed):
        self.rows, self.rng, self.out = rows, random.Random(seed), []

    def add(self, kind, split, template, query, region, relevant, spec=None, extra_kind=None, constraints=None):
        ranked = sorted(relevant, key=lambda r: (r["prices"][region], r["sku"]))
        parse = build_parse(
            extra_kind or kind,
            query,
            region,
            ranked,
            spec,
            brands=tuple({r.get("brand", "").lower() for r in ranked} - {""}),
        )
        self.out.append(
            {
                "id": f"{split}-{kind}-{len(self.out):06d}",
                "kind": kind,
                "task": "search",
                "split": split,
                "template": template,
                "query": query,
                "region": region,
                "date": "2026-06-01",
                "target": {"skus": [r["sku"] for r in ranked[:3]]},
                "relevant": [r["sku"] for r in ranked],
                "constraints": {"region": region, **(constraints or {})},
                "parse": parse,
            }
        )
        return self.out[-1]


def synth_queries(rows: list[dict], store, seed: int = 0, families: set | None = None) -> list[dict]:
    """Labelled queries (both splits) about `rows`; `families` limits model-name queries to those
    families (attribute and budget queries always range over the whole catalog). Budgets are
    written in `store`'s currency symbol for the region, rounded to its budget step."""
    w = _Writer(rows, seed)
    by_family = defaultdict(list)
    for r in rows:
        by_family[r["family"]].append(r)
    by_category = defaultdict(list)
    for r in rows:
        by_category[r["category"]].append(r)
    for fam, members in sorted(by_family.items()):
        if families is not None and fam not in families:
            continue
        alias = family_alias(members[0]["family_name"], members[0]["category"])
        for split, templates in TEMPLATES["model_code"].items():
            t = w.rng.choice(templates)
            region = w.rng.choice(members[0]["regions"])
            ex = w.add(
                "model_code", split, t, t.format(name=alias), region, [r for r in members if region in r["regions"]]
            )
            if w.rng.random() < TYPO_RATE:
                typo = w.add(
                    "typo",
                    split,
                    "typo:" + t,
                    misspell(ex["query"], w.rng),
                    region,
                    [r for r in members if region in r["regions"]],
                )
                typo["parse"] = ex["parse"]  # the parse of the correctly spelt query
    if families is None:
        _attribute_and_budget(w, by_category, store)
    return w.out


def _attribute_and_budget(w: _Writer, by_category: dict, store):
    for category, members in sorted(by_category.items()):
        noun = category.lower()
        brand = (members[0].get("brand") or "").lower()
        values = sorted({(k, v) for r in members for k, v in r["attributes"].items() if _feature_phrase(k, v)}, key=str)
        for key, value in w.rng.sample(values, min(len(values), 6)):
            region = w.rng.choice(members[0]["regions"])
            relevant = [r for r in members if region in r["regions"] and r["attributes"].get(key) == value]
            if not relevant or len(relevant) == len([r for r in members if region in r["regions"]]):
                continue  # an attribute every SKU has does not narrow anything
            for split, templates in TEMPLATES["feature"].items():
                t = w.rng.choice(templates)
                w.add(
                    "feature",
                    split,
                    t,
                    t.format(noun=noun, feat=_feature_phrase(key, value), brand=brand).strip(),
                    region,
                    relevant,
                    {key: value},
                )
        for split, templates in TEMPLATES["budget"].items():
            for t in templates:
                anchor = w.rng.choice(members)
                region = w.rng.choice(anchor["regions"])
                step = store.regions[region].budget_step
                amt = int((anchor["prices"][region] // step + 1) * step)
                relevant = [r for r in members if region in r["regions"] and r["prices"][region] <= amt]
                w.add(
                    "budget",
                    split,
                    t,
                    t.format(noun=noun, sym=store.symbol(region), amt=f"{amt:,}"),
                    region,
                    relevant,
                    {"price_max": amt, "currency": store.currency(region)},
                    constraints={"max_price": amt},
                )
