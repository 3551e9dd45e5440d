"""Labelled query -> answer examples for every query kind, generated from the catalog.

An example is a dict: id, kind, task, split, template, query, region, date, target (the JSON
answer), relevant (every catalog SKU that is a right answer), constraints (what a right
answer must satisfy), parse (the query understood in catalog terms, `skutune.parse`).
Targets list up to three relevant SKUs, cheapest first in the region.
"""

import datetime as dt
import random

from skutune.demo import intents as I
from skutune.demo.catalog import CURRENCY, REGIONS, SYMBOL, build_catalog, families
from skutune.parse import build_parse
from skutune.schemas import task_for
from skutune.store import KINDS as STORE_KINDS

KINDS = STORE_KINDS  # every kind the library knows; logged examples come from a query log, not from here
SPLITS = ("train", "test")
TOP_K = 3
BRANDS = ("samsung", "galaxy")  # query words that make the brand part of a parse


def _in_region(rows, region, pred):
    return [r for r in rows if region in r["regions"] and pred(r)]


def _ranked(rows, region):
    return [r["sku"] for r in sorted(rows, key=lambda r: (r["prices"][region], r["sku"]))]


def _random_date(rng, lo="2026-01-01", hi="2026-12-31"):
    a, b = dt.date.fromisoformat(lo), dt.date.fromisoformat(hi)
    return (a + dt.timedelta(days=rng.randint(0, (b - a).days))).isoformat()


class _Builder:
    def __init__(self, catalog, seed):
        self.catalog = catalog
        self.by_sku = {r["sku"]: r for r in catalog}
        self.rng = random.Random(seed)
        self.out = []

    def search(self, kind, split, template, query, region, pred, date=None, constraints=None, spec=None, **extra):
        rows = _in_region(self.catalog, region, pred)
        if not rows:
            return None
        ranked = _ranked(rows, region)
        return self.add(
            kind, split, template, query, region, {"skus": ranked[:TOP_K]}, ranked, date, constraints, spec, **extra
        )

    def add(
        self,
        kind,
        split,
        template,
        query,
        region,
        target,
        relevant,
        date=None,
        constraints=None,
        spec=None,
        parse=None,
        **extra,
    ):
        parse = parse or build_parse(
            kind, query, region, [self.by_sku[s] for s in relevant], spec, brands=BRANDS, **extra
        )
        ex = {
            "kind": kind,
            "task": task_for(kind),
            "split": split,
            "template": template,
            "query": query,
            "region": region,
            "date": date or _random_date(self.rng),
            "target": target,
            "relevant": relevant,
            "constraints": {"region": region, **(constraints or {})} if relevant else {},
            "parse": parse,
        }
        self.out.append(ex)
        return ex


def _regions_of(rows):
    return [r for r in REGIONS if any(r in row["regions"] for row in rows)]


def _model_code(b):
    tpl = {
        "train": ["{a}", "samsung {a}", "buy {a}", "{a} {s}gb", "{a} price", "show me {a}", "{a} {s} gb"],
        "test": ["looking for the {a} online", "{a} with {s} gb storage"],
    }
    for f in families().values():
        for split, templates in tpl.items():
            for t in templates:
                for alias in f.aliases:
                    storages = sorted(
                        {r["attributes"].get("storage_gb") for r in b.catalog if r["family"] == f.code} - {None}
                    )
                    if "{s}" in t and not storages:
                        continue
                    s = b.rng.choice(storages) if storages else None
                    region = b.rng.choice(f.regions)
                    pred = lambda r, c=f.code, s=s, t=t: (
                        r["family"] == c and ("{s}" not in t or r["attributes"].get("storage_gb") == s)
                    )
                    b.search(
                        "model_code",
                        split,
                        t,
                        t.format(a=alias, s=s),
                        region,
                        pred,
                        spec={"storage_gb": s} if "{s}" in t else None,
                    )


def _phrase_table(b, kind, table):
    for train, test, pred, spec in table:
        for split, phrasings in (("train", train), ("test", test)):
            for q in phrasings:
                regions = _regions_of([r for r in b.catalog if pred(r)])
                for region in regions:
                    b.search(kind, split, q, q, region, pred, spec=spec)


def _feature(b):
    for category, ((nouns_train, nouns_test), feats) in I.FEATURES.items():
        for train, test, pred, spec in feats:
            full = lambda r, c=category, p=pred: r["category"] == c and p(r)
            for split, phr, nouns in (("train", train, nouns_train), ("test", test, nouns_test)):
                for p_i, feat in enumerate(phr):
                    for noun in nouns:
                        q = f"{noun} {feat}" if split == "train" else f"samsung {noun} {feat}"
                        for region in _regions_of([r for r in b.catalog if full(r)]):
                            b.search("feature", split, q, q, region, full, spec=spec)


BUDGET_TEMPLATES = {
    "train": ["{noun} under {sym}{amt}", "{need}{noun} below {sym}{amt}"],
    "test": ["{need}{noun} within a budget of {sym}{amt}", "{noun} for less than {sym}{amt}"],
}
BUDGET_NOUNS = {
    "refrigerator": "fridge",
    "phone": "phone",
    "tv": "tv",
    "laptop": "laptop",
    "washer": "washing machine",
    "ac": "ac",
    "monitor": "monitor",
    "tablet": "tablet",
}


def _budget(b):
    for category, noun in BUDGET_NOUNS.items():
        for split, templates in BUDGET_TEMPLATES.items():
            for t in templates:
                for _ in range(6):
                    rows = [r for r in b.catalog if r["category"] == category]
                    anchor = b.rng.choice(rows)
                    region = b.rng.choice(anchor["regions"])
                    step = 5000 if region == "IN" else 100
                    amt = int((anchor["prices"][region] // step + 1) * step)
                    need, cons, pred = "", {"max_price": amt}, None
                    if (
                        category == "refrigerator" and "{need}" in t and b.rng.random() < 0.6
                    ):  # only where the query says so
                        size = b.rng.choice([2, 3, 4, 5])
                        need, cons["min_family_size"] = f"fridge for family of {size}, ", size
                        pred = lambda r, s=size: r["attributes"]["family_size"] >= s
                    q = t.format(noun=noun, sym=SYMBOL[region], amt=f"{amt:,}", need=need).replace(
                        f"fridge for family of {cons.get('min_family_size')}, fridge",
                        f"fridge for family of {cons.get('min_family_size')}",
                    )
                    full = lambda r, c=category, a=amt, reg=region, p=pred: (
                        r["category"] == c and r["prices"][reg] <= a and (p is None or p(r))
                    )
                    spec = {"price_max": amt, "currency": CURRENCY[region]} | (
                        {"family_size_min": cons["min_family_size"]} if pred else {}
                    )
                    b.search("budget", split, t, q, region, full, constraints=cons, spec=spec)


def _typo(b, source):
    words = I.MISSPELLINGS
    for ex in source:
        tokens = ex["query"].split()
        hits = [i for i, w in enumerate(tokens) if w.lower() in words]
        if not hits:
            continue
        for i in hits:
            tokens[i] = b.rng.choice(words[tokens[i].lower()])
        b.add(
            "typo",
            ex["split"],
            "typo:" + ex["template"],
            " ".join(tokens),
            ex["region"],
            ex["target"],
            ex["relevant"],
            parse=ex["parse"],
        )  # the parse of the correctly spelled query: understanding fixes the typo


def _competitor(b):
    for c, pred in I.COMPETITOR:
        for split, templates in I.COMPETITOR_TEMPLATES.items():
            for t in templates:
                for region in _regions_of([r for r in b.catalog if pred(r)]):
                    b.search("competitor", split, t, t.format(c=c), region, pred)


def _comparison(b):
    names = {f.code: f.name for f in families().values()}
    for a, other, fams in I.COMPARISON:
        left = names[fams[0]]
        right = (
            names[fams[1]]
            if len(fams) > 1
            else other.title().replace("Iphone", "iPhone").replace("Ipad", "iPad").replace("Lg", "LG")
        )
        for split, templates in I.COMPARISON_TEMPLATES.items():
            for t in templates:
                for region in _regions_of([r for r in b.catalog if r["family"] in fams]):
                    per_fam = [
                        _ranked([r for r in b.catalog if r["family"] == f and region in r["regions"]], region)
                        for f in fams
                    ]
                    if not all(per_fam):
                        continue
                    skus = [p[0] for p in per_fam]
                    b.add(
                        "comparison",
                        split,
                        t,
                        t.format(a=a, b=other),
                        region,
                        {"compare": [left, right], "skus": skus},
                        [s for p in per_fam for s in p],
                        compare=[left, right],
                    )


def _regional(b):
    for region, train, test, pred, spec in I.REGIONAL:
        for split, phr in (("train", train), ("test", test)):
            for q in phr:
                b.search("regional", split, q, q, region, pred, spec=spec)


def _seasonal(b):
    cat_of = {f.code: f.category for f in families().values()}
    for camp in I.CAMPAIGNS:
        cats = sorted({cat_of[f] for f in camp["families"]})
        for split, templates in I.SEASONAL_TEMPLATES.items():
            for t in templates:
                for name in camp["names"]:
                    for c in cats:
                        for region in camp["regions"]:
                            date = _random_date(b.rng, camp["valid_from"], camp["valid_to"])
                            pred = lambda r, c=c, fs=camp["families"]: r["category"] == c and r["family"] in fs
                            b.search(
                                "seasonal",
                                split,
                                t,
                                t.format(n=name, noun=I.NOUNS[c]),
                                region,
                                pred,
                                date=date,
                                constraints={"campaign": camp["id"]},
                                campaign=camp["id"],
                            )


def _qa(b):
    for f in families().values():
        rows = [r for r in b.catalog if r["family"] == f.code]
        for fact in rows[0]["faq"]:
            train, test = I.QA[fact["topic"]]
            for split, templates in (("train", train), ("test", test)):
                for t in templates:
                    region = b.rng.choice(f.regions)
                    ranked = _ranked([r for r in rows if region in r["regions"]], region)
                    b.add(
                        "qa",
                        split,
                        t,
                        t.format(f=f.name),
                        region,
                        {"answer": fact["a"], "skus": ranked[:1]},
                        ranked,
                        constraints={"answer": fact["value"]},
                        topic=fact["topic"],
                    )


def _policy(b):
    for reason, train, test in I.POLICY:
        for split, phr in (("train", train), ("test", test)):
            for q in phr:
                for region in REGIONS:
                    b.add("policy", split, q, q, region, {"refusal": reason}, [], refusal=reason)


def build_examples(seed: int = 13, catalog=None) -> list[dict]:
    """Every labelled example (both splits), deterministic for a seed."""
    b = _Builder(catalog or build_catalog(), seed)
    _model_code(b)
    _phrase_table(b, "colloquial", I.COLLOQUIAL)
    _feature(b)
    _phrase_table(b, "vague", I.VAGUE)
    _budget(b)
    _typo(b, [e for e in b.out if e["kind"] in ("model_code", "colloquial", "feature")])
    _competitor(b)
    _comparison(b)
    _regional(b)
    _seasonal(b)
    _qa(b)
    _policy(b)
    test_queries = {e["query"] for e in b.out if e["split"] == "test"}
    train = [e for e in b.out if e["split"] == "train" and e["query"] not in test_queries]
    rows = train + [e for e in b.out if e["split"] == "test"]
    for i, e in enumerate(rows):
        e["id"] = f"{e['split']}-{e['kind']}-{i:05d}"
    return rows


def sample_split(rows, split: str, per_kind: int, seed: int = 0) -> list[dict]:
    """At most `per_kind` examples of each kind from a split (balanced eval/train sets)."""
    rng = random.Random(seed)
    out = []
    for kind in KINDS:
        pool = [e for e in rows if e["split"] == split and e["kind"] == kind]
        rng.shuffle(pool)
        out.extend(pool[:per_kind])
    return out
