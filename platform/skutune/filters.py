"""Row filters for shopper queries: PII scrubbing, length and format, language, toxicity and
off-domain. Each check is a plain function of the query text, so a test can feed it known
cases; `FilterSet` applies them to an example row and says what happened.

Rows whose target is a refusal (kind "policy") are labelled refusal examples: they teach the
model to refuse toxic, medical and off-domain requests, so the toxicity and off-domain
filters leave them alone.
"""

import re
import unicodedata
from pathlib import Path

from skutune.intents import COMPETITOR, NOUNS
from skutune.understand import build_parse

# A match starts only where a run of address characters starts: without the look-behind every
# position of a long run was tried again, and a 100,000-character word took 16 s (found by fuzzing).
EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# 10 to 22 digits and separators, optionally with a country code: "+91 98765 43210", "(415) 555-0134";
# bounded, so a long run of digits and spaces costs linear time
PHONE = re.compile(r"(?<!\w)\+?\d[\d\s().-]{8,20}\d(?!\w)")

# A documented word list, not a classifier: insults and abuse shoppers type at a store bot.
# No toxicity classifier ships offline with this project; extend the list with
# curate.toxic_words_path (one word or phrase per line).
TOXIC_WORDS = ("idiot", "idiots", "stupid", "moron", "dumb", "pathetic", "useless", "trash", "garbage", "brainless",
               "shut up", "i hate you", "hate you", "loser", "crap", "damn you", "screw you", "piece of junk", "scam")

# Other brands' products (the store sells Samsung only) and other shops. A competitor name
# with a redirect word ("iphone alternative", "s24 vs iphone 15") is a legitimate Samsung
# query; with purchase words and no redirect it is off-domain ("buy iphone 15 pro").
COMPETITOR_NAMES = tuple(sorted({c for c, _ in COMPETITOR} | {"iphone", "ipad", "macbook", "pixel", "oneplus", "airpods", "apple"}))
RETAILERS = ("amazon", "flipkart", "walmart", "best buy", "ebay", "croma", "target.com")
REDIRECT = re.compile(r"\b(alternative|instead|like|similar|vs|versus|compare|compared|comparison|or|equivalent|replace|than|"
                      r"difference|but from samsung)\b")
PURCHASE = re.compile(r"\b(buy|order|purchase|checkout|add .* to cart|price of)\b")
# Topics a store search cannot answer (weather, news, homework), unless a product is named:
# "tv for cricket matches" is a TV query
PRODUCTS = re.compile(r"\b(samsung|galaxy|" + "|".join(sorted({*NOUNS.values(), *NOUNS})) + r"|television|refrigerator|monitor|"
                      r"washing machine|earbuds|watch|ac)s?\b")
NON_COMMERCE = re.compile(r"\b(weather|poem|joke|cricket|football|capital of|translate|movie|recipe|homework|solve|news|election)\b")

SCRIPTS = {"LATIN": "en", "DEVANAGARI": "hi", "CJK": "ja", "HIRAGANA": "ja", "KATAKANA": "ja", "HANGUL": "ko",
           "CYRILLIC": "ru", "ARABIC": "ar", "TAMIL": "ta", "BENGALI": "bn", "THAI": "th", "GREEK": "el"}


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


def off_domain(text: str) -> str | None:
    """"competitor_purchase" or "off_domain" (the refusal codes of schemas.SCHEMAS), or None."""
    low = text.lower()
    if any(r in low for r in RETAILERS) or (NON_COMMERCE.search(low) and not PRODUCTS.search(low)):
        return "off_domain"
    if any(re.search(rf"\b{re.escape(c)}\b", low) for c in COMPETITOR_NAMES) and not REDIRECT.search(low):
        return "competitor_purchase" if PURCHASE.search(low) or "samsung" not in low else None
    return None


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
    """The configured filters (skutune.config.CurateConfig) applied to one example."""

    def __init__(self, cfg):
        self.cfg = cfg
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
        if lang not in self.cfg.languages:
            return f"language: {lang}", changes
        if ex["kind"] == "policy":  # a labelled refusal example: keep it
            return None, changes
        if toxic(query, self.words):
            return "toxic", changes
        reason = off_domain(query)
        if reason and self.cfg.off_domain == "drop":
            return f"off-domain: {reason}", changes
        if reason:  # turned into a refusal example the model learns from
            ex.update(kind="policy", task="refusal", target={"refusal": reason}, relevant=[], constraints={},
                      parse=build_parse("policy", query, ex["region"], [], refusal=reason))
            changes.append(f"off-domain to policy: {reason}")
        return None, changes
