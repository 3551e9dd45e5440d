"""A deterministic reading of the budget in a shopper's query, to check the model's parse.

Shoppers write budgets many ways: "under ₹50,000", "below 50k", "less than rs 45000", "within
1.5 lakh", "upto $300", "max 200 dollars", "between 20 and 40 euros", "$20-$40", "over £500". A
small model trained on a few phrasings misses the rest; a rule does not, and it knows when it
has found nothing. An amount counts only with a budget word before it, a currency marker beside
it or a k/lakh multiplier, and never when a unit follows it: "55 inch", "family of 4", "under 5
years" are not prices.
"""

import re
from dataclasses import dataclass

from skutune.store import CURRENCY_WORDS, StoreProfile

MULTIPLIERS = {"k": 1e3, "thousand": 1e3, "lakh": 1e5, "lakhs": 1e5, "lac": 1e5, "lacs": 1e5}
MULTIPLIERS |= {"crore": 1e7, "crores": 1e7, "cr": 1e7}
MAX_CUES = ("under", "below", "less than", "lesser than", "within", "upto", "up to", "max", "maximum")
MAX_CUES += ("not more than", "no more than", "at most", "budget", "budget of", "cheaper than", "<")
MIN_CUES = ("over", "above", "more than", "greater than", "at least", "min", "minimum", "starting at", ">")
RANGE_CUES = ("between", "from")
# a unit after a number makes it a size, an age or a count, not a price
UNITS = r"(?:inch|inches|in\b|\"|cm|mm|m\b|ft|feet|kg|g\b|gb|tb|mb|mp|hz|w\b|watt|l\b|litre|liter|ltr|ton|tonne"
UNITS += r"|years?|yrs?|yo\b|months?|s\b|pcs|pieces?|players?|people|persons?|seater|door|star|%|x\b|mah|v\b)"
NUMBER = r"\d{1,3}(?:,\d{2,3})+(?:\.\d+)?|\d+(?:\.\d+)?"


@dataclass
class Amount:
    value: float
    start: int
    end: int
    marked: bool  # a currency marker or a multiplier beside it


def _markers(store: StoreProfile, region: str) -> tuple[str, str]:
    code = store.currency(region)
    marks = {*CURRENCY_WORDS.get(code, ()), code.lower(), store.symbol(region).lower()} - {""}
    words = sorted(marks, key=len, reverse=True)
    return "|".join(re.escape(m) + (r"\b\.?" if m.isalpha() else "") for m in words), code


def amounts(text: str, store: StoreProfile, region: str) -> list[Amount]:
    """Every price-like amount in a lower-cased query, in order."""
    cur, _ = _markers(store, region)
    mult = "|".join(sorted(MULTIPLIERS, key=len, reverse=True))
    pattern = re.compile(rf"(?P<pre>(?:{cur})\s*)?(?P<num>{NUMBER})\s*(?P<mult>(?:{mult})\b)?\s*(?P<post>{cur})?")
    out = []
    for m in pattern.finditer(text):
        if not (m.group("mult") or m.group("post")) and re.match(rf"\s*{UNITS}", text[m.end("num") :]):
            continue  # "55 inch", "4 years", "5s"
        if m.start() > 0 and (text[m.start() - 1].isalnum() and not m.group("pre")):
            continue  # inside a model code: "s23", "rt34"
        value = float(m.group("num").replace(",", "")) * MULTIPLIERS.get(m.group("mult") or "", 1.0)
        out.append(Amount(value, m.start(), m.end(), bool(m.group("pre") or m.group("post") or m.group("mult"))))
    return out


def _cue_before(text: str, at: int, cues: tuple[str, ...]) -> bool:
    before = text[:at].rstrip()
    return any(re.search(rf"(?:^|\W){re.escape(c)}(?:\s+(?:of|price|is))?$", before) for c in cues)


def _clean(found: dict) -> dict:
    return {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in found.items()}


def extract_budget(query: str, region: str, store: StoreProfile) -> dict:
    """{"price_min"?, "price_max"?, "currency"} read from the query, in the region's currency;
    {} when the query states no budget."""
    text = " ".join(query.lower().split())
    _, code = _markers(store, region)
    found = amounts(text, store, region)
    for a, b in zip(found, found[1:]):  # "between 20 and 40", "$20-$40", "20k to 30k"
        joined = re.fullmatch(r"\s*(?:-|–|to|and)\s*", text[a.end : b.start])
        if joined and (_cue_before(text, a.start, RANGE_CUES) or a.marked or b.marked):
            low, high = sorted((a.value, b.value))
            return _clean({"price_min": low, "price_max": high, "currency": code})
    out = {}
    for a in found:
        if _cue_before(text, a.start, MAX_CUES):
            out.setdefault("price_max", a.value)
        elif _cue_before(text, a.start, MIN_CUES):
            out.setdefault("price_min", a.value)
    if not out:  # a bare marked amount ("tv 40k", "phone ₹20,000") is a ceiling
        marked = [a for a in found if a.marked]
        if marked:
            out["price_max"] = marked[0].value
    return _clean({**out, "currency": code}) if out else {}
