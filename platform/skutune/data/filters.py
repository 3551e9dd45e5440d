"""Row filters for shopper queries: PII scrubbing, length and format, language, toxicity and
off-domain. Each check is a plain function of the query text, so a test can feed it known
cases; `FilterSet` applies them to an example row and says what happened.

Rows whose target is a refusal (kind "policy") are labelled refusal examples: they teach the
model to refuse toxic, medical and off-domain requests, so the toxicity and off-domain
filters leave them alone.
"""

import functools
import re
import unicodedata
from pathlib import Path

from skutune.parse import build_parse
from skutune.store import StoreProfile

# A match starts only where a run of address characters starts: without the look-behind every
# position of a long run was tried again, and a 100,000-character word took 16 s (found by fuzzing).
EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# 10 to 22 digits and separators, optionally with a country code: "+91 98765 43210", "(415) 555-0134";
# bounded, so a long run of digits and spaces costs linear time
PHONE = re.compile(r"(?<!\w)\+?\d[\d\s().-]{8,20}\d(?!\w)")

# A documented word list, not a classifier: insults and abuse shoppers type at a store bot.
# No toxicity classifier ships offline with this project; extend the list with
# curate.toxic_words_path (one word or phrase per line).
TOXIC_WORDS = (
    "idiot",
    "idiots",
    "stupid",
    "moron",
    "dumb",
    "pathetic",
    "useless",
    "trash",
    "garbage",
    "brainless",
    "shut up",
    "i hate you",
    "hate you",
    "loser",
    "crap",
    "damn you",
    "screw you",
    "piece of junk",
    "scam",
)

# Other brands' products and other shops come from the store profile (store.py). In a single-brand
# store a competitor name with a redirect word ("iphone alternative", "s24 vs iphone 15") is a
# legitimate query; with purchase words and no redirect it is refused ("buy iphone 15 pro"). A
# marketplace sells every brand: nothing is a competitor there.
REDIRECT = re.compile(
    r"\b(alternative|instead|like|similar|vs|versus|compare|compared|comparison|or|equivalent|replace|than|"
    r"difference|but from)\b"
)
PURCHASE = re.compile(r"\b(buy|order|purchase|checkout|add .* to cart|price of)\b")

SCRIPTS = {
    "LATIN": "en",
    "DEVANAGARI": "hi",
    "CJK": "ja",
    "HIRAGANA": "ja",
    "KATAKANA": "ja",
    "HANGUL": "ko",
    "CYRILLIC": "ru",
    "ARABIC": "ar",
    "TAMIL": "ta",
    "BENGALI": "bn",
    "THAI": "th",
    "GREEK": "el",
}


def scrub_pii(text: str) -> tuple[str, int]:
    """Emails and phone numbers replaced by placeholders; returns (text, how many)."""
    text, n_mail = EMAIL.subn("<email>", text)
    text, n_phone = PHONE.subn("<phone>", text)
    return text, n_mail + n_phone


def language(text: str) -> str:
    """The language of the text's main script ("en" for Latin, "hi" for Devanagari, "ja" for
    kana or CJK ...), or "und" with no letters. Script, not vocabulary: Hinglish in Latin
    letters ("sasta fridge") counts as "en", which a store in India wants."""
    counts = {}
    for ch in text:
        if ch.isalpha():
            name = unicodedata.name(ch, "")
            script = next((s for s in SCRIPTS if name.startswith(s)), "OTHER")
            counts[script] = counts.get(script, 0) + 1
    if not counts:
        return "und"
    return SCRIPTS.get(max(counts, key=counts.get), "other")


def toxic(text: str, words=TOXIC_WORDS) -> str | None:
    """The first listed word or phrase the text contains, as a whole word, or None."""
    low = text.lower()
    return next((w for w in words if re.search(rf"(?<!\w){re.escape(w)}(?!\w)", low)), None)


def _words(words) -> re.Pattern | None:
    """A whole-word pattern for any of `words` (plurals included), or None for no words."""
    return (
        re.compile(r"\b(" + "|".join(re.escape(w.lower()) for w in sorted(words, key=len, reverse=True)) + r")s?\b")
        if words
        else None
    )


@functools.lru_cache(maxsize=16)
def _patterns(store_json: str) -> dict:
    store = StoreProfile.model_validate_json(store_json)
    return {
        "products": _words(store.product_words),
        "non_commerce": _words(store.off_domain_words),
        "medical": _words(store.medical_words),
        "competitors": None if store.marketplace else _words(store.competitor_words),
        "own": _words(store.brands_sold),
        "retailers": tuple(w.lower() for w in store.retailer_words),
    }


def off_domain(text: str, store: StoreProfile) -> str | None:
    """ "medical", "off_domain" or "competitor_purchase" (refusal codes), or None, by `store`'s
    word lists. Health questions and topics a store search cannot answer (weather, news) are
    refused unless a product is named: "tv for cricket matches" is a TV query."""
    low, p = text.lower(), _patterns(store.model_dump_json())
    named = p["products"] and p["products"].search(low)
    if p["medical"] and p["medical"].search(low) and not named:
        return "medical"
    if any(r in low for r in p["retailers"]) or (p["non_commerce"] and p["non_commerce"].search(low) and not named):
        return "off_domain"
    if p["competitors"] and p["competitors"].search(low) and not REDIRECT.search(low):
        return "competitor_purchase" if PURCHASE.search(low) or not (p["own"] and p["own"].search(low)) else None
    return None


def with_catalog_words(store: StoreProfile, catalog: list[dict]) -> StoreProfile:
    """`store` with its catalog's categories and brands among the product words: a shop selling
    "DVD Movies" or "Cricket Wireless" plans keeps "disney dvd movies" though "movie" and
    "cricket" are off-domain words, and its grader passes answers that name them. A brand read
    from a title (scraped.ground_catalog) is left out: it is often a plain word ("Happy", "Team")."""
    names = {r["category"].strip().lower() for r in catalog if r.get("category", "").strip()}
    names |= {r["brand"].strip().lower() for r in catalog if r.get("brand", "").strip() and not r.get("brand_inferred")}
    return store.model_copy(update={"product_words": sorted(names.union(store.product_words))})


def without_off_domain_words(text: str, store: StoreProfile) -> str:
    """`text` (lower case) without the store's off-domain words: what is left to match a catalog."""
    pattern = _patterns(store.model_dump_json())["non_commerce"]
    return pattern.sub(" ", text.lower()) if pattern else text.lower()


def bad_format(text: str, min_chars: int, max_chars: int) -> str | None:
    if len(text) < min_chars:
        return f"shorter than {min_chars} characters"
    if len(text) > max_chars:
        return f"longer than {max_chars} characters"
    if not any(ch.isalnum() for ch in text):
        return "no letters or digits"
    if re.search(r"(.)\1{7,}", text):
        return "a character repeated 8+ times"
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        return "control characters"
    return None


def load_words(path: str | None) -> tuple[str, ...]:
    if not path:
        return TOXIC_WORDS
    extra = [w.strip().lower() for w in Path(path).read_text().splitlines() if w.strip() and not w.startswith("#")]
    return TOXIC_WORDS + tuple(extra)


class FilterSet:
    """The configured filters (skutune.config.CurateConfig) applied to one example of `store`."""

    def __init__(self, cfg, store: StoreProfile):
        self.cfg, self.store = cfg, store
        self.words = load_words(cfg.toxic_words_path)

    def __call__(self, ex: dict) -> tuple[str | None, list[str]]:
        """(a reason to drop the row or None, the changes made to `ex` in place)."""
        changes = []
        query, n = scrub_pii(ex["query"])
        if n:
            ex["query"] = query
            changes.append("pii scrubbed")
        problem = bad_format(query, self.cfg.min_query_chars, self.cfg.max_query_chars)
        if problem:
            return f"format: {problem}", changes
        lang = language(query)
        if lang not in self.store.languages:  # scripts the store's shoppers write in (filters.language)
            return f"language: {lang}", changes
        if ex["kind"] == "policy":  # a labelled refusal example: keep it
            return None, changes
        if toxic(query, self.words):
            return "toxic", changes
        reason = off_domain(query, self.store)
        if reason and self.cfg.off_domain == "drop":
            return f"off-domain: {reason}", changes
        if reason:  # turned into a refusal example the model learns from
            ex.update(
                kind="policy",
                task="refusal",
                target={"refusal": reason},
                relevant=[],
                constraints={},
                parse=build_parse("policy", query, ex["region"], [], refusal=reason),
            )
            changes.append(f"off-domain to policy: {reason}")
        return None, changes
