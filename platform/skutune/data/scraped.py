"""What scraped catalogs look like, turned into skutune's catalog fields.

Per row (called by `records.normalise_scraped`): category trees in any of the common shapes
(`A > B > C`, `A >> B`, `A | B | C`, `A / B`, a JSON list), spec lists (`k: v | k: v` blobs, JSON
objects, lists of key/value pairs), prices as text in any currency of the store profile ("$237.68",
"Rs. 1,299", "1.299,00 €", "$10.99 - $19.99", "Total price: $5.00"), and ids in any format (kept as
`source_id`, mapped to a safe internal SKU).

Per catalog (`ground_catalog`, after validation): the category level (a tree's leaf is sometimes
the product's own name, never a category) and a brand for rows whose brand column is empty.
"""

import hashlib
import re
from collections import Counter

from skutune.runtime.paths import json_row
from skutune.store import CURRENCY_WORDS, StoreProfile

SKU = re.compile(r"^[A-Z0-9]+(-[A-Z0-9]+)*$")
MAX_SKU_CHARS = 40  # longer ids cost tokens in every closed-book answer: mapped like unsafe ones
MAX_ATTRIBUTES = 64
MAX_VALUE_CHARS = 200
MAX_DESCRIPTION_CHARS = 4000
CATEGORY_SEPARATORS = (r"\s*>>\s*", r"\s*>\s*", r"\s*\|\s*", r"\s+/\s+")  # tried in this order; the first that splits
# 12,34,567 (Indian grouping) | 1,299.00 | 1.299,00 | 1 299,00 | 5 | 5.99
AMOUNT = re.compile(
    r"\d{1,3}(?:,\d{2})+,\d{3}(?:\.\d{1,2})?|\d{1,3}(?:[.,\s]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
)
SPLIT_CENTS = re.compile(r"(\d+)\s+(\d{2})(?!\d)")  # "$ 19 99": a scraper split the cents off
NOT_BRANDS = {"the", "a", "an", "new", "set", "pack", "of", "for", "with", "and", "kids", "mens", "womens"}


def number(text):
    """ "₹44,990" -> 44990; "345 L" -> 345; anything else unchanged."""
    if not isinstance(text, str):
        return text
    m = re.fullmatch(
        r"\s*[^\d\s-]{0,4}\s*(-?[\d,]*\.?\d+)\s*(?:L|kg|mm|cm|in|inch|W|Hz|mAh|GB|TB|MP|ton|Ton|\"|%)?\s*", text
    )
    if not m:
        return text
    num = float(m.group(1).replace(",", ""))
    return int(num) if num.is_integer() else num


def attribute_value(text: str):
    """An attribute value from a blob: yes/no -> bool, "345 L" -> 345, else the text."""
    return {"yes": True, "no": False}.get(text.lower(), number(text))


def category_path(value) -> list[str]:
    """A category tree as its levels, root first: "Home > Kitchen > Fridges", a JSON list, ..."""
    if isinstance(value, str) and value.strip().startswith("["):
        value = json_row(value)  # '["Home", "Kitchen"]': a JSON-list wrapper
    if isinstance(value, list):
        parts = [str(p) for p in value]
        if len(parts) == 1:  # ["Home > Kitchen"]: a tree inside the wrapper
            return category_path(parts[0])
    else:
        text = "" if value is None else str(value).strip()
        parts = [text]
        for sep in CATEGORY_SEPARATORS:
            split = re.split(sep, text)
            if len(split) > 1:
                parts = split
                break
    return [p.strip() for p in parts if p and p.strip()]


# {"key"=>"Colour", "value"=>"Red"}: a Ruby hash as a Rails scraper printed it (Flipkart's public
# product sample writes its specs so); its quoted keys make it JSON once each "=>" is a ":"
RUBY_ARROW = re.compile(r'"\s*=>\s*')


def attributes(value) -> dict:
    """Specs in the common scraped shapes, as {snake_case_key: value}; bounded in keys and length."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("{", "[") and text[-1:] in ("}", "]"):
            try:
                return attributes(json_row(text))
            except ValueError:
                if "=>" not in text:
                    raise
                return attributes(json_row(RUBY_ARROW.sub('": ', text)))
        pairs = [p.split(":", 1) for p in re.split(r"[|;\n]", text) if ":" in p]
    elif isinstance(value, dict):
        if len(value) == 1 and isinstance(next(iter(value.values())), list):
            return attributes(next(iter(value.values())))  # {"product_specification": [...]}: a wrapper
        pairs = list(value.items())
    elif isinstance(value, list):  # [{"key": k, "value": v}], [{"name": k, "value": v}], [[k, v]]
        pairs = []
        for item in value:
            if isinstance(item, dict):
                key = next((item[k] for k in ("key", "name", "label", "attribute") if k in item), None)
                if key is not None:
                    pairs.append((key, item.get("value", item.get("values", ""))))
                elif len(item) == 1 and next(iter(item)) not in ("value", "values"):  # a value without its key: skipped
                    pairs.append(next(iter(item.items())))
            elif isinstance(item, (list, tuple)) and len(item) == 2:
                pairs.append(tuple(item))
    else:
        return {}
    out = {}
    for key, raw in pairs:
        key = re.sub(r"\W+", "_", str(key).strip().lower()).strip("_")[:64]
        if not key or key in out or len(out) >= MAX_ATTRIBUTES:
            continue
        if isinstance(raw, list):
            raw = ", ".join(str(x) for x in raw)
        out[key] = attribute_value(raw.strip()[:MAX_VALUE_CHARS]) if isinstance(raw, str) else raw
    return out


def _amount(text: str) -> float:
    """ "1,299.00" -> 1299.0; "1.299,00" -> 1299.0; "12,34,567" -> 1234567.0."""
    text = text.replace(" ", "")
    last = max(text.rfind(","), text.rfind("."))
    if last != -1 and len(text) - last - 1 in (1, 2):  # a decimal part: the last separator is the point
        whole, frac = text[:last], text[last + 1 :]
        return float(re.sub(r"[.,]", "", whole) + "." + frac)
    return float(re.sub(r"[.,]", "", text))


def _first_amount(text: str) -> float | None:
    m = AMOUNT.search(text)
    if m is None:
        return None
    split = SPLIT_CENTS.match(text, m.start())
    if split and split.group(1) == m.group(0):
        return float(f"{split.group(1)}.{split.group(2)}")
    return _amount(m.group(0))


def _currency_in(text: str, store: StoreProfile) -> set[str]:
    """The currencies a price text names: by the store's own symbols first (a store whose "$" is
    CAD means CAD), then by common symbols and words, matched as whole words."""
    low = text.lower()
    own = {r.currency for r in store.regions.values() if r.symbol and r.symbol.lower() in low}
    if own:
        return own
    words = set(re.findall(r"[a-z]+", low))
    return {
        code for code, names in CURRENCY_WORDS.items() if any(n in words if n.isalpha() else n in low for n in names)
    }


def price(text, currency: str, store: StoreProfile) -> tuple[float, str]:
    """(amount, region) from a scraped price: its first amount (a range's low end; the list price
    and savings that scrapers append come after it), in the currency its symbol or word names (or
    the `currency` column's), which must be a currency of the store profile."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        amount, named = float(text), set()
    else:
        text = str(text)
        amount, named = _first_amount(text), _currency_in(text, store)
    if amount is None:
        raise ValueError(f"price: no amount in {str(text)!r:.40}")
    currencies = {r.currency for r in store.regions.values()}
    if currency:
        if store.region_of_currency(currency) is None:
            raise ValueError(f"unknown currency {currency!r:.12}; the store prices in {sorted(currencies)}")
        if named and currency.upper() not in named:
            raise ValueError(f"price {text!r:.40} is not in the currency column's {currency}")
        named = {currency.upper()}
    if not named and len(currencies) == 1:  # a one-currency store: a bare number is in its currency
        named = currencies
    known = {store.region_of_currency(code) for code in named} - {None}
    if len(known) != 1:
        why = "names no currency" if not named else f"is in {sorted(named)}"
        raise ValueError(f"price {str(text)!r:.40} {why}; the store prices in {sorted(currencies)}")
    return (int(amount) if amount.is_integer() else amount), known.pop()


def safe_sku(source_id) -> str:
    """The id as skutune's SKU: itself upper-cased when it is already safe and short, else a slug
    of it plus a hash of the original, so two ids never map to one SKU."""
    text = str(source_id).strip()
    upper = text.upper()
    if SKU.match(upper) and len(upper) <= MAX_SKU_CHARS:
        return upper
    slug = re.sub(r"[^A-Z0-9]+", "-", upper).strip("-")[:24].strip("-")
    digest = hashlib.sha1(text.encode()).hexdigest()[:8].upper()
    return f"{slug}-{digest}" if slug else f"ID-{digest}"


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def names_the_product(level: str, title: str) -> bool:
    """A tree level that is the product's own name (scrapers often end the tree with it): three
    or more words, most of them in the title."""
    words = _words(level)
    return len(words) >= 3 and len(words & _words(title)) >= 0.6 * len(words)


def _category_level(paths: list[list[str]], titles: list[str]) -> list[str]:
    """Per row, the deepest level of its tree that is not the product's own name (a real category
    that holds one product stays)."""
    out = []
    for p, title in zip(paths, titles):
        levels = list(p)
        while len(levels) > 1 and names_the_product(levels[-1], title):
            levels.pop()
        out.append(levels[-1].lower() if levels else "")
    return out


def _first_words(title: str, n: int) -> str:
    words = [w.strip(",:;-–()\"'") for w in title.split()[:n]]
    return " ".join(w for w in words if w)


def infer_brand(title: str, known: list[str], shared: Counter) -> str:
    """A brand for a row without one: a brand other rows name, where the title starts with it;
    else the longest title opening (up to 3 words) other titles share; else its first word."""
    low = title.lower()
    for brand in known:  # longest first
        if low.startswith(brand.lower() + " ") or low == brand.lower():
            return brand
    for n in (3, 2):
        opening = _first_words(title, n)
        if len(opening.split()) == n and shared[opening.lower()] >= 2:
            return opening
    words = [w for w in _first_words(title, 4).split() if w.lower() not in NOT_BRANDS]
    return words[0] if words else ""


def ground_catalog(rows: list[dict]) -> list[dict]:
    """Catalog-wide choices no single row can make: the category level (never the product's own
    name), and a brand for rows that have none (`brand_inferred` marks them)."""
    paths = [r.get("category_path") or [] for r in rows]
    for row, category in zip(rows, _category_level(paths, [r["title_en"] for r in rows])):
        if category:
            row["category"] = category
    known = sorted({r["brand"] for r in rows if r.get("brand")}, key=len, reverse=True)
    shared = Counter(
        opening
        for r in rows
        for opening in {_first_words(r["title_en"], n).lower() for n in (2, 3) if len(r["title_en"].split()) > n}
    )
    for row in rows:
        if not row.get("brand"):
            row["brand"] = infer_brand(row["title_en"], known, shared)
            row["brand_inferred"] = bool(row["brand"])
    return rows
