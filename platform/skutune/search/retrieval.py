"""Reading an index version: facet columns for hard filters, BM25 and dense retrieval inside
a filter mask, and reciprocal rank fusion of the two."""

import functools
import json
import re
from pathlib import Path

import numpy as np

from skutune.encoder import encode, load_encoder, stopwords
from skutune.runtime.paths import load_jsonl
from skutune.search.index import current_version, sku_id
from skutune.search.spelling import Speller, vocabulary

RRF_K = 60  # the usual reciprocal rank fusion constant (Cormack et al.)
EMBED_CACHE = 4096  # query vectors remembered per index version (384 floats each: 6 MB)
EXACT_DENSE_MAX = 50000  # masked sets up to this size are scored exactly, not through the ANN index
SPEC = re.compile(r"^\d+(\.\d+)?(gb|tb|mm|mp|hz|l|kg|w|wh|mah|g|k|in|ch|p)$")  # sizes and specs, not model codes


class CatalogIndex:
    def __init__(self, version_dir: Path, encoder=None, nprobe: int = 32):
        import bm25s

        self.dir = Path(version_dir)
        self.meta = json.loads((self.dir / "meta.json").read_text())
        self.rows = load_jsonl(self.dir / "rows.jsonl")
        self.by_sku = {r["sku"]: r for r in self.rows}
        self.emb = np.load(self.dir / "emb.npy")
        self.bm25 = bm25s.BM25.load(str(self.dir / "bm25"), show_progress=False)
        self._bm25s = bm25s
        self.ann, self.pos_of_id = None, None
        if (self.dir / "ann.faiss").exists():
            import faiss

            self.ann = faiss.read_index(str(self.dir / "ann.faiss"))
            self.ann.nprobe = nprobe
            self.pos_of_id = {sku_id(r["sku"]): i for i, r in enumerate(self.rows)}
        self.stopwords = stopwords(self.meta.get("stopwords", "en"))
        self.encoder = encoder or load_encoder(self.meta.get("encoder", "minilm"))
        self._embed = functools.lru_cache(maxsize=EMBED_CACHE)(self._embed_uncached)
        self._columns = {}
        self.category = self._column(lambda r: r["category"])
        self.family = self._column(lambda r: r["family"])
        self.brand = self._column(lambda r: (r.get("brand") or "").lower())
        self.family_names = {r["family_name"].lower() for r in self.rows}
        self.categories, self.brands = (
            set(self.category),
            set(self.brand),
        )  # facet values, once per version, not per query
        english = {w for w in self.encoder.tokenizer.get_vocab() if w.isalpha()}  # words that are not misspellings
        self.speller = Speller(*vocabulary(self.rows), known=set(self.bm25.vocab_dict) | english)

    @classmethod
    def load(cls, index_dir, **kw) -> "CatalogIndex":
        version = current_version(index_dir)
        if version is None:
            raise FileNotFoundError(f"no index at {index_dir}: run jobs/index.py first")
        return cls(version, **kw)

    def __len__(self):
        return len(self.rows)

    def _column(self, get) -> np.ndarray:
        return np.array([get(r) for r in self.rows], dtype=object)

    def column(self, key: str) -> np.ndarray:
        """Facet columns, built on first use: `region:IN` (sold there), `price:IN`, `use:gaming`,
        `num:capacity_l` (floats), or an attribute name (object array, None where a SKU lacks it)."""
        if key not in self._columns:
            kind, _, arg = key.partition(":")
            if kind == "region":
                col = np.array([arg in r["regions"] for r in self.rows])
            elif kind == "price":
                col = np.array([r["prices"].get(arg, np.nan) for r in self.rows], dtype=float)
            elif kind == "use":
                col = np.array([arg in r.get("tags", ()) for r in self.rows])
            elif kind == "num":  # numeric attribute, NaN where missing or not a number
                col = np.array(
                    [
                        float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan
                        for v in self.column(arg)
                    ]
                )
            else:
                col = self._column(lambda r: r["attributes"].get(key))
            self._columns[key] = col
        return self._columns[key]

    def model_codes(self, text: str) -> set[str]:
        """Catalog model codes the text names: index tokens mixing letters and digits ("s24",
        "qn90d", "b10"), but not specs ("256gb", "5g", "4k")."""
        tokens = set(re.findall(r"\b\w\w+\b", text.lower()))
        return {
            t
            for t in tokens
            if re.search(r"[a-z]", t) and re.search(r"\d", t) and not SPEC.match(t) and t in self.bm25.vocab_dict
        }

    def encode(self, texts: list[str]) -> np.ndarray:
        return encode(self.encoder, texts)

    def embed(self, text: str) -> np.ndarray:
        """One query's vector, remembered: the MiniLM pass (13 ms of a 14 ms search on one CPU
        thread) is most of what a head query answered from the parse cache still costs."""
        return self._embed(text)

    def _embed_uncached(self, text: str) -> np.ndarray:
        vec = self.encode([text])[0]
        vec.flags.writeable = False  # shared by every later request for the same text
        return vec

    def _tokens(self, text: str) -> list[str]:
        return self._bm25s.tokenize([text], stopwords=self.stopwords, return_ids=False, show_progress=False)[0]

    def coverage(self, text: str) -> float:
        """The share of the text's words (stopwords aside) that some product's indexed text has."""
        tokens = self._tokens(text)
        return sum(t in self.bm25.vocab_dict for t in tokens) / len(tokens) if tokens else 0.0

    def bm25_scores(self, text: str) -> np.ndarray:
        """BM25 score of every row for `text` (zeros when no word of it is indexed)."""
        tokens = self._tokens(text)
        if not tokens:
            return np.zeros(len(self.rows))
        return np.asarray(self.bm25.get_scores(tokens), dtype=float)

    def bm25_top(self, text: str, n: int, mask: np.ndarray) -> list[int]:
        scores = self.bm25_scores(text)
        scores[~mask] = 0.0
        top = np.argsort(-scores, kind="stable")[:n]
        return [int(i) for i in top if scores[i] > 0]

    def dense_top(self, vec: np.ndarray, n: int, mask: np.ndarray) -> list[int]:
        allowed = np.flatnonzero(mask)
        if self.ann is None or len(allowed) <= EXACT_DENSE_MAX:
            scores = self.emb[allowed] @ vec
            return [int(allowed[i]) for i in np.argsort(-scores, kind="stable")[:n]]
        _, ids = self.ann.search(vec[None].astype(np.float32), n * 4)  # over-fetch, then drop what the mask excludes
        pos = [self.pos_of_id[i] for i in ids[0] if i >= 0]
        return [p for p in pos if mask[p]][:n]

    def hybrid(self, text: str, vec: np.ndarray, mask: np.ndarray, n: int = 100) -> list[int]:
        """Row positions inside `mask`, best first, by reciprocal rank fusion of BM25 and dense.
        BM25 ranks by the words the catalog has and ignores the rest, so its vote weighs the
        square of that share (`coverage`): in "keep my car engine healthy" it matches "car" (a toy
        car) and "engine", and meaning (motor oil) should win. The square, not the share, was
        measured better on the BYO bench and the demo (README, issue 19)."""
        score = {}
        for weight, ranking in (
            (self.coverage(text) ** 2, self.bm25_top(text, n, mask)),
            (1.0, self.dense_top(vec, n, mask)),
        ):
            for rank, pos in enumerate(ranking):
                score[pos] = score.get(pos, 0.0) + weight / (RRF_K + rank + 1)
        return sorted(score, key=lambda p: (-score[p], p))
