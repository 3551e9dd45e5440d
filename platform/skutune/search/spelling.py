"""A spelling corrector over the catalog's own vocabulary: brands, category names and title words.

Shoppers misspell exactly the words search needs ("melisa doug", "hot weels", "samzung",
"puzle"). BM25 matches none of them and a small model echoes them, so grounded search corrects
the query before it is parsed and retrieved. A word is left alone when the catalog, the index
(descriptions, specs) or the encoder's English vocabulary knows it, so "cheap", "gift" and
"toddler" never turn into catalog words; an unknown word becomes the catalog word closest to it
by a phonetic key ("fone" -> "phone") or by Damerau-Levenshtein distance (insertions, deletions,
substitutions, transpositions; one edit up to 7 letters, two beyond). Ties go to the word that
follows or precedes its neighbour in some title ("harry poter" -> "harry potter", not "power"),
then to the more frequent word. A word the catalog splits ("hotwheels") is split; a plural or
possessive of a catalog word ("rubiks") loses its "s".
"""

import re
from collections import Counter

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

MIN_LETTERS = 4  # shorter words are too close to too much ("lg" -> "hp")
WORD = re.compile(r"[a-z]+")
PHONETIC = ((r"ph", "f"), (r"ck|q", "k"), (r"c(?=[aou])", "k"), (r"z", "s"), (r"(.)\1", r"\1"), (r"e$", ""))


def phonetic(word: str) -> str:
    """A key that spellings which sound alike share: "fone" and "phone", "kard" and "card"."""
    for pattern, repl in PHONETIC:
        word = re.sub(pattern, repl, word)
    return word


def vocabulary(rows: list[dict]) -> tuple[Counter, Counter]:
    """Catalog words and word pairs, with how many products use them: what a correction may produce."""
    counts, pairs = Counter(), Counter()
    for r in rows:
        names = (r.get("title_en") or r.get("title", ""), r.get("family_name", ""), r.get("brand") or "")
        for text in (*names, r.get("category", ""), *r.get("category_path", [])):
            words = WORD.findall(text.lower())
            counts.update(words)
            pairs.update(zip(words, words[1:]))
    return counts, pairs


class Speller:
    def __init__(self, counts: Counter, pairs: Counter = Counter(), known: set[str] = frozenset()):
        """`counts`, `pairs`: catalog words (the targets of a correction) and adjacent word pairs,
        with their counts; `known`: more words that are not misspellings (the index vocabulary,
        English words)."""
        self.catalog = set(counts)
        self.counts = {w: c for w, c in counts.items() if len(w) >= MIN_LETTERS}  # what a correction may produce
        self.pairs = pairs
        self.known = set(counts) | set(known)
        self.words = sorted(self.counts)
        self.by_sound: dict[str, str] = {}
        for w in sorted(self.words, key=lambda w: (-self.counts[w], w)):
            self.by_sound.setdefault(phonetic(w), w)

    def word(self, w: str, before: str = "", after: str = "") -> str:
        """`w` itself when it is known or nothing catalog-like is close, else its correction;
        `before` and `after`: the neighbouring words, which break ties."""
        if len(w) < MIN_LETTERS or w in self.known:
            return w
        if w.endswith("s") and w[:-1] in self.counts:  # "rubiks" -> "rubik"
            return w[:-1]
        if phonetic(w) in self.by_sound:
            return self.by_sound[phonetic(w)]
        limit = 1 if len(w) <= 7 else 2
        found = process.extract(w, self.words, scorer=DamerauLevenshtein.distance, score_cutoff=limit, limit=50)
        if found:
            context = lambda c: self.pairs[before, c] + self.pairs[c, after]  # noqa: E731
            return min(found, key=lambda f: (f[1], -context(f[0]), -self.counts[f[0]], f[0]))[0]
        for i in range(3, len(w) - 2):  # "hotwheels" -> "hot wheels"
            if w[:i] in self.catalog and w[i:] in self.catalog:
                return f"{w[:i]} {w[i:]}"
        return w

    def correct(self, query: str) -> str:
        """The query with each unknown word replaced by its catalog spelling (lower case)."""
        words = query.lower().split()
        out = []
        for i, token in enumerate(words):
            before = out[-1] if out else ""
            after = words[i + 1] if i + 1 < len(words) else ""
            out.append(WORD.sub(lambda m: self.word(m.group(0), before, after), token))
        return " ".join(out)
