"""Cold start: labelled training and test queries generated from a catalog alone, so a store
that brings only its catalog (no query logs, no hand labels) can train the understanding adapter
and evaluate grounded search.

Queries are written the ways shoppers write them, for each kind in the store profile:
  model_code  a product's short name ("coreflex crossbow longboard"), a series' name
  feature     brand + product type ("lego building sets"), title words that set products of a
              category apart ("wooden puzzle"), spec values ("fridge with inverter")
  budget      a ceiling in many phrasings and number formats ("under $25", "below 25 dollars",
              "upto rs 45000", "within 1.5 lakh", "max 2.5k"), alone or with a brand
  colloquial  what shoppers call a category (a commerce lexicon, and the names its own tree
              gives it: "teddy bears" for "stuffed animals & teddy bears")
  vague       a use or an audience from the catalog's own "ideal for ..." phrases
  typo        a misspelt brand or noun (dropped, doubled, swapped, neighbouring key, sound)
each with its relevant SKUs and its parse target. Train and test use disjoint templates (and
budget cues), so decontamination compares templates, not the product names both share
(curate: `decontam.on`); about one unit in seven also gets a test query, so at least 80% of
the rows train.
"""

import random
import re
from collections import Counter, defaultdict

from skutune.data.lexicon import MAX_CUES, SYNONYMS, amount_forms, misspell_query, nice_amount, short_name
from skutune.parse import build_parse

TEST_SHARE = 0.15  # units (products, categories, phrases) that also get a held-out test query
TEMPLATES = {
    "model_code": {
        "train": ["{name}", "buy {name}", "{name} price", "{name} online", "i want {name}", "{brand} {name}"],
        "test": ["looking for the {name} online", "is the {name} available", "where can i get {name}"],
    },
    "brand": {
        "train": ["{brand} {noun}", "{noun} by {brand}", "{brand} {noun} for sale", "new {brand} {noun}"],
        "test": ["any {brand} {noun}", "show me {brand} {noun}"],
    },
    "feature": {
        "train": ["{feat} {noun}", "{noun} {feat}", "{noun} with {feat}"],
        "test": ["i need a {feat} {noun}", "do you have {feat} {noun}"],
    },
    "budget": {
        "train": ["{noun} {cue} {amt}", "{cue} {amt} {noun}", "cheap {noun} {cue} {amt}", "{brand} {noun} {cue} {amt}"],
        "test": ["good {noun} {cue} {amt}", "{brand} {noun} for {cue} {amt}"],
    },
    "colloquial": {
        "train": ["{syn}", "buy {syn}", "{syn} online", "{syn} for sale"],
        "test": ["need a {syn}", "where are the {syn}"],
    },
    "vague": {
        "train": ["something for {use}", "{noun} for {use}", "gift for {use}"],
        "test": ["what should i buy for {use}", "ideas for {use}"],
    },
}
USE = re.compile(
    r"(?:ideal|perfect|great|suitable|designed|made|fun)\s+(?:gift\s+)?for\s+"
    r"([a-z' -]{3,40}?)(?=[.,|!;:()]|\s+(?:and|who|to|with|or|in|at)\b|$)"
)
VAGUE_WORDS = {"use", "stage", "any", "play", "all", "every", "the", "a", "an", "both", "your", "you", "it", "this"}
MAX_USE_ROWS = 20  # a phrase half the catalog uses says nothing about what a shopper wants
TYPO_RATE = 0.5  # share of name and brand queries that also get a misspelt copy
STOP = {"the", "a", "an", "and", "for", "with", "of", "in", "to", "by", "&", "set", "pack", "new", "kit"}


def family_alias(family_name: str, category: str) -> str:
    """How a shopper types a product: its family name, lower case, without its category's words
    in either number ("Bespoke Refrigerator" in "refrigerators" -> "bespoke")."""
    own = {w.rstrip("s") for w in re.split(r"\W+", category.lower()) if w}
    words = [w for w in family_name.lower().split() if w.rstrip("s") not in own]
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


def noun_of(category: str) -> str:
    """A category as a shopper says it: "stuffed animals & teddy bears" -> "stuffed animals"."""
    return re.split(r"\s*(?:&|,| and )\s*", category.lower())[0].strip() or category.lower()


def category_names(category: str, store) -> list[str]:
    """Other names for a category: the parts of its own name ("stuffed animals & teddy bears" ->
    "teddy bears"), the store profile's `category_words` for it, and the commerce lexicon's."""
    parts = [p.strip() for p in re.split(r"\s*(?:&|,| and )\s*", category.lower()) if p.strip()]
    names = parts[1:] + [w for w, c in store.category_words.items() if c.lower() == category.lower()]
    names += [s for w in category.lower().split() for s in SYNONYMS.get(w, [])]
    return [n for n in dict.fromkeys(names) if n != noun_of(category)]


def _feature_phrase(key: str, value) -> str | None:
    if isinstance(value, bool):
        return key.replace("_", " ") if value else None
    if isinstance(value, (int, float, str)) and 0 < len(str(value)) <= 20:
        return f"{key.replace('_', ' ')} {value}"
    return None


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


class _Writer:
    def __init__(self, store, seed, test_share):
        self.store, self.rng, self.out, self.test_share = store, random.Random(seed), [], test_share

    def splits(self):
        """The splits a unit (a product, a category, a phrase) writes: always train, sometimes test too."""
        return ["train"] + (["test"] if self.rng.random() < self.test_share else [])

    def add(self, kind, split, template, query, region, relevant, spec=None, constraints=None, label=None):
        label = label or kind
        if label not in self.store.query_kinds or not relevant:
            return None
        ranked = sorted(relevant, key=lambda r: (r["prices"][region], r["sku"]))
        brands = tuple({(r.get("brand") or "").lower().split()[0] for r in ranked if r.get("brand")})
        parse = build_parse("model_code" if kind == "model_code" else label, query, region, ranked, spec, brands)
        if kind == "model_code" and len({r["family"] for r in ranked}) == 1 and ranked[0]["family"] == ranked[0]["sku"]:
            parse.pop("product", None)  # a product without a series: its long title is no name to echo
        self.out.append(
            {
                "id": f"{split}-{label}-{len(self.out):06d}",
                "kind": label,
                "task": "search",
                "split": split,
                "template": f"{kind}:{template}",
                "query": " ".join(query.split()),
                "region": region,
                "date": "2026-06-01",
                "target": {"skus": [r["sku"] for r in ranked[:3]]},
                "relevant": [r["sku"] for r in ranked],
                "constraints": {"region": region, **(constraints or {})},
                "parse": parse,
            }
        )
        return self.out[-1]

    def typo(self, ex):
        """Sometimes, a misspelt copy of `ex`: same split and answer, the correctly spelt parse."""
        if ex is None or "typo" not in self.store.query_kinds or self.rng.random() >= TYPO_RATE:
            return
        query = misspell_query(ex["query"], self.rng)
        if query != ex["query"]:
            typo = {
                "id": f"{ex['split']}-typo-{len(self.out):06d}",
                "kind": "typo",
                "template": "typo:" + ex["template"],
            }
            self.out.append({**ex, **typo, "query": query})


def synth_queries(
    rows: list[dict], store, seed: int = 0, families: set | None = None, test_share: float = TEST_SHARE
) -> list[dict]:
    """Labelled queries (both splits) about `rows`; `families` limits product-name queries to those
    families (category, brand, budget, colloquial and use queries range over the whole catalog);
    `test_share`: the units that also get a test query (1.0: all, for an eval of every family)."""
    w = _Writer(store, seed, test_share)
    by_family, by_category = defaultdict(list), defaultdict(list)
    for r in rows:
        by_family[r["family"]].append(r)
        by_category[r["category"]].append(r)
    for fam, members in sorted(by_family.items()):
        if families is None or fam in families:
            _names(w, members)
    if families is None:
        for category, members in sorted(by_category.items()):
            _category(w, category, members)
        _uses(w, rows)
    return w.out


def _region(w, members):
    return w.rng.choice(sorted({g for r in members for g in r["regions"]}))


def _names(w: _Writer, members: list[dict]):
    first = members[0]
    series = len(members) > 1 or first["family"] != first["sku"]
    name = family_alias(first["family_name"], first["category"]) if series else ""
    name = name or short_name(first["title_en"], first.get("brand") or "", w.rng.choice((3, 4)))
    brand = (first.get("brand") or "").lower()
    region = _region(w, members)
    relevant = [r for r in members if region in r["regions"]]
    for split in w.splits():
        t = w.rng.choice(TEMPLATES["model_code"][split])
        ex = w.add("model_code", split, t, t.format(name=name, brand=brand), region, relevant)
        w.typo(ex)


def _category(w: _Writer, category: str, members: list[dict]):
    noun = noun_of(category)
    region = _region(w, members)
    local = [r for r in members if region in r["regions"]]
    if not local:
        return
    brands = Counter(r["brand"] for r in local if r.get("brand"))
    for brand, _ in brands.most_common(3):  # brand + product type
        relevant = [r for r in local if r.get("brand") == brand]
        for split in w.splits():
            t = w.rng.choice(TEMPLATES["brand"][split])
            w.typo(
                w.add("brand", split, t, t.format(brand=brand.lower(), noun=noun), region, relevant, label="feature")
            )
    _features(w, noun, region, local)
    _budgets(w, noun, region, local, brands)
    for syn in category_names(category, w.store):
        for split in w.splits():
            t = w.rng.choice(TEMPLATES["colloquial"][split])
            w.add("colloquial", split, t, t.format(syn=syn), region, local)


def _features(w: _Writer, noun: str, region: str, local: list[dict]):
    """Title words and spec values that some products of the category have and others lack."""
    if len(local) < 2:
        return
    stems = {x[:4] for x in _words(noun)}
    words = Counter(
        x for r in local for x in _words(r["title_en"]) - STOP if len(x) >= 3 and not x.isdigit() and x[:4] not in stems
    )
    specs = Counter((k, v) for r in local for k, v in r["attributes"].items() if _feature_phrase(k, v))
    picks = [(word, None) for word, n in words.most_common(6) if 2 <= n < len(local)]
    picks += [(_feature_phrase(k, v), {k: v}) for (k, v), n in specs.most_common(6) if 2 <= n < len(local)]
    for feat, spec in picks[:6]:
        if spec:
            [(key, value)] = spec.items()
            relevant = [r for r in local if r["attributes"].get(key) == value]
        else:
            relevant = [r for r in local if feat in _words(r["title_en"])]
        for split in w.splits():
            t = w.rng.choice(TEMPLATES["feature"][split])
            w.add("feature", split, t, t.format(feat=feat, noun=noun), region, relevant, spec)


def _budgets(w: _Writer, noun: str, region: str, local: list[dict], brands: Counter):
    reg = w.store.regions[region]
    for anchor in w.rng.sample(local, min(len(local), 3)):
        amt = nice_amount(anchor["prices"][region], reg.budget_step)
        for split in w.splits():
            t = w.rng.choice(TEMPLATES["budget"][split])
            cue = w.rng.choice(MAX_CUES[split])
            brand = anchor.get("brand") if "{brand}" in t else None
            if "{brand}" in t and not brand:
                continue
            relevant = [r for r in local if r["prices"][region] <= amt and (not brand or r.get("brand") == brand)]
            written = amount_forms(amt, reg.currency, reg.symbol, w.rng)
            query = t.format(noun=noun, cue=cue, amt=written, brand=(brand or "").lower())
            spec = {"price_max": amt, "currency": reg.currency}
            w.add("budget", split, f"{t}|{cue}", query, region, relevant, spec, {"max_price": amt})


def _uses(w: _Writer, rows: list[dict]):
    """Uses and audiences from the catalog's own words: "ideal for toddlers", "great gift for teens"."""
    found = defaultdict(list)
    for r in rows:
        for m in USE.finditer((r.get("description") or "").lower()):
            phrase = " ".join(m.group(1).split())
            if len(phrase.split()) <= 4 and any(len(x) >= 4 and x not in VAGUE_WORDS for x in phrase.split()):
                found[phrase].append(r)
    for phrase, members in sorted(found.items()):
        members = list({r["sku"]: r for r in members}.values())
        if len(members) > MAX_USE_ROWS:
            continue
        region = _region(w, members)
        relevant = [r for r in members if region in r["regions"]]
        for split in w.splits():
            t = w.rng.choice(TEMPLATES["vague"][split])
            w.add("vague", split, t, t.format(use=phrase, noun=noun_of(members[0]["category"])), region, relevant)
