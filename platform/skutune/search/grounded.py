"""Grounded search: the tuned model understands the query, the catalog answers.

    query -> parse (parse.py, tuned model) -> hard filters from the parse (region,
    category, brand, campaign, limits, attributes) -> hybrid BM25 + dense retrieval inside
    the filters (reciprocal rank fusion) -> optional listwise rerank by the model, which may
    only pick among the candidates it is shown -> an answer in the task's schema.

A filter that would leave nothing is relaxed rather than applied, and the result says which
filters were applied and which relaxed. Every SKU returned comes from the index, so grounded
answers cannot hallucinate SKUs.
"""

import difflib
import functools
import time

import jsonschema
import numpy as np

from skutune.data.filters import off_domain, without_off_domain_words
from skutune.generate import LAST_POSITION, generate_all, render
from skutune.parse import ordered, parse_schema
from skutune.prompts import answer_text, normalize_query
from skutune.schemas import parse_answer
from skutune.search.budget import extract_budget
from skutune.store import StoreProfile

TOP_K = 5
CONTRADICTED = 0.5  # a parsed category or brand whose best lexical match is under this share of the region's best
# a query none of whose words the region's catalog holds ("heartburn relief"): a parsed category or
# brand stands only if one of its products is among this many nearest by meaning (dense retrieval)
AGREED_TOP = 10


@functools.lru_cache(maxsize=16)
def _validator(store_json: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(parse_schema(StoreProfile.model_validate_json(store_json)))


def fallback_parse(query: str, region: str) -> dict:
    """What grounded search runs on when the model's parse is not valid JSON: the raw query."""
    return {"intent": "search", "region": region, "query": normalize_query(query)}


def parse_hint(query: str, region: str, store: StoreProfile, category: str | None = None) -> str:
    """What a parse of `query` likely copies, written as a parse writes it: the region, the query
    echoed, a likely `category`, and the budget the rule reads (budget.py). The Serve app's decoder
    drafts from it (speculative.greedy); the model still picks every token, so a wrong guess
    changes how many forward passes a parse takes, not the parse."""
    parse = {"intent": "search", "region": region, "query": normalize_query(query), "category": category}
    budget = extract_budget(query, region, store)
    return answer_text(ordered(parse | {"constraints": budget}))


def parse_is_valid(parse, store: StoreProfile) -> bool:
    """The parse validates against the parse schema of `store` (its regions, currencies, refusals)."""
    return parse is not None and _validator(store.model_dump_json()).is_valid(parse)


def read_parse(text: str, query: str, region: str, store: StoreProfile, budget_rule: bool = True) -> tuple[dict, bool]:
    """(parse, valid) from the model's text: an invalid parse becomes `fallback_parse`; the budget
    a rule reads from the query (budget.py) replaces the model's price limits when they differ."""
    parse = parse_answer(text)
    valid = parse_is_valid(parse, store)
    parse = parse if valid else fallback_parse(query, region)
    budget = extract_budget(query, region, store) if budget_rule and parse.get("intent") == "search" else {}
    if budget:
        limits = {k: v for k, v in parse.get("constraints", {}).items() if not k.startswith("price_")}
        parse = {**parse, "constraints": {**limits, **budget}}
    return parse, valid


def parse_queries(
    tok, model, store, queries, regions, dates, batch_size=16, max_new_tokens=128, grammar=None, budget_rule=True
) -> list[tuple[dict, bool]]:
    """(parse, valid) per query; an invalid parse is replaced by `fallback_parse`. `grammar`: the
    parse grammar (constrained.Grammars) to decode under; `budget_rule`: the rule's budget wins."""
    prompts = [render(tok, q, r, d, store, target="parse") for q, r, d in zip(queries, regions, dates)]
    texts = generate_all(tok, model, prompts, batch_size, max_new_tokens, desc="understand", grammar=grammar)
    return [read_parse(text, q, r, store, budget_rule) for text, q, r in zip(texts, queries, regions)]


def closest(value, vocabulary, cutoff: float = 0.8) -> str | None:
    """The catalog's own spelling of a parsed brand or category ("philps" -> "philips"), or None:
    a misspelling the model echoed still filters, and a value the catalog lacks does not."""
    if not isinstance(value, str) or not value:
        return None
    value = value.lower()
    if value in vocabulary:
        return value
    if len(value) < 4:  # short names are too close to too much ("lg", "hp")
        return None
    match = difflib.get_close_matches(value, sorted(vocabulary), n=1, cutoff=cutoff)
    return match[0] if match else None


def filters_for(index, parse: dict, region: str, campaigns: dict, currency: str) -> list[tuple[str, np.ndarray]]:
    """(label, mask) per hard filter the parse asks for, most trusted first."""
    out = []
    # A named product outranks the model's guess of its category: for a product the model
    # has never seen ("bespoke c10 prime") that guess is often wrong, and the name is enough.
    category = closest(parse.get("category"), index.categories)
    if category and not parse.get("product"):
        out.append((f"category={category}", index.category == category))
    brand = closest(parse.get("brand"), index.brands)
    if brand:
        out.append((f"brand={parse['brand']}", index.brand == brand))
    camp = campaigns.get(parse.get("campaign"))
    if camp:
        out.append((f"campaign={camp['id']}", np.isin(index.family, camp["families"])))
    for key, value in parse.get("constraints", {}).items():
        if key == "currency":
            continue
        name, bound = key.rsplit("_", 1)
        if name == "price":
            if parse["constraints"].get("currency", currency) != currency:
                continue  # a limit in another currency is not converted: it is reported as not applied
            col = index.column(f"price:{region}")
        else:
            col = index.column(f"num:{name}")
        with np.errstate(invalid="ignore"):
            mask = col <= value if bound == "max" else col >= value
        out.append((f"{key}={value}", np.nan_to_num(mask, nan=0).astype(bool)))
    for key, value in parse.get("attributes", {}).items():
        col = index.column(f"use:{value}") if key == "use" else np.array([v == value for v in index.column(key)])
        out.append((f"{key}={value}", col.astype(bool)))
    return out


def apply_filters(
    index, parse: dict, region: str, campaigns: dict, currency: str
) -> tuple[np.ndarray, list[str], list[str]]:
    """Region is always applied; every other filter is applied unless it would empty the set."""
    mask = index.column(f"region:{region}").copy()
    applied, relaxed = [f"region={region}"], []
    for label, m in filters_for(index, parse, region, campaigns, currency):
        if (mask & m).any():
            mask &= m
            applied.append(label)
        else:
            relaxed.append(label)
    return mask, applied, relaxed


class Reranker:
    """Listwise rerank: the model sees the query and numbered candidates; the scores of the
    candidate numbers as its next token order them, so it can only choose a shown candidate."""

    def __init__(self, tok, model, store: StoreProfile):
        import torch

        self.tok, self.model, self.torch = tok, model, torch
        self.system = f"{store.name} search. Reply with the number of the best product."
        self.label_ids = [tok(str(i + 1), add_special_tokens=False)["input_ids"][0] for i in range(9)]

    def order(self, query: str, region: str, rows: list[dict]) -> list[int]:
        if len(rows) < 2:
            return list(range(len(rows)))
        lines = "\n".join(
            f"{i + 1}. {r['title_en'] if r.get('title_en') else r['title']} ({r['prices'].get(region, '')})"
            for i, r in enumerate(rows[:9])
        )
        messages = [
            {"role": "system", "content": self.system},
            {"role": "user", "content": f"[{region}] {normalize_query(query)}\n{lines}"},
        ]
        ids = self.tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)[
            "input_ids"
        ]
        with self.torch.inference_mode():
            logits = self.model(input_ids=ids.to(self.model.device), logits_to_keep=LAST_POSITION).logits[0, -1]
        scores = logits[self.label_ids[: len(rows[:9])]].float().cpu().numpy()
        return [int(i) for i in np.argsort(-scores, kind="stable")] + list(range(9, len(rows)))


class GroundedSearch:
    def __init__(
        self,
        index,
        store: StoreProfile,
        pool: int = 100,
        spelling: bool = True,
        contradictions: bool = True,
        policy: bool = True,
    ):
        self.index, self.pool, self.store, self.spelling = index, pool, store, spelling
        self.contradictions, self.policy = contradictions, policy
        self.campaigns = {c["id"]: c for c in store.campaign_dicts()}

    def correct(self, query: str) -> str:
        """The query in the catalog's spelling (spelling.py), which the model parses and retrieval
        matches: "melisa doug puzle" -> "melissa doug puzzle"."""
        return self.index.speller.correct(query) if self.spelling else query

    def warm(self, parses) -> int:
        """Retrieve once for each (region, query, model text) of the parse cache's head queries,
        so a cache hit's search finds its query vector remembered: the MiniLM pass is about 13 ms
        of a hit that otherwise costs about 20 over HTTP. Returns how many were retrieved."""
        n = 0
        for region, query, text in parses:
            self.search(query, read_parse(text, query, region, self.store)[0], region)
            n += 1
        return n

    def hint(self, query: str, region: str) -> str:
        """parse_hint with the category of the query's best BM25 match: in the demo's test
        queries it saved 0.8 of a lone parse's 7.2 forward passes (README, bench-decode)."""
        top = self.index.bm25_top(query, 1, np.ones(len(self.index), dtype=bool))
        return parse_hint(query, region, self.store, self.index.rows[top[0]]["category"] if top else None)

    def _ungrounded_product(self, query: str, parse: dict) -> list[str]:
        """A named product must be grounded in the catalog. If the parse invents one (no such
        family) or the query names a catalog model code the product does not share, the model
        is guessing from memory, typically about a SKU added after training: its product and
        the category that came with it are dropped (and reported), and the query's own words
        retrieve. Returns the dropped filters."""
        product = parse.get("product")
        if not product:
            return []
        codes = self.index.model_codes(query)
        if product.lower() in self.index.family_names and not (codes and not codes & self.index.model_codes(product)):
            return []
        return [f"product={product}"] + ([f"category={parse['category']}"] if parse.get("category") else [])

    def _contradicted(self, text: str, query: str, parse: dict, region: str) -> list[str]:
        """The parse's category and brand are the model's reading of the query; its own words are
        evidence. Where the best lexical match inside the parsed category (or brand) scores under
        CONTRADICTED of the best in the region, the query names something else (a product the
        model filed under the wrong category): those keys are dropped. Where no word of the
        shopper's query is in the region's catalog (a vague or colloquial query), its meaning is
        the evidence: a key none of whose products is among the AGREED_TOP nearest by dense
        retrieval is dropped (a small model guesses a category for "heartburn relief" from its
        training queries, and on a catalog of one product per category a wrong guess leaves
        nothing to find). The shopper's words, not the parse's rewrite of them, decide which
        applies: a model that garbles "pioneer woman" leaves words that match nothing. Returns them."""
        idx = self.index
        in_region = idx.column(f"region:{region}").astype(bool)
        scores = idx.bm25_scores(text) * in_region
        best = scores.max(initial=0.0)
        if best > 0:  # the products the query's words support
            support = scores >= CONTRADICTED * best
        else:
            own = normalize_query(query)
            if (idx.bm25_scores(own) * in_region).any():
                return []  # the shopper's words match, the parse's do not: nothing to weigh the parse by
            support = np.zeros(len(idx.rows), dtype=bool)  # the products nearest the query's meaning
            support[idx.dense_top(idx.embed(own), AGREED_TOP, in_region)] = True
        keys = (("category", idx.category, idx.categories), ("brand", idx.brand, idx.brands))
        return [
            key
            for key, column, values in keys
            if (value := closest(parse.get(key), values)) and not support[column == value].any()
        ]

    def refusal(self, query: str, region: str) -> str | None:
        """The store's refusal code for a query its word lists refuse (the rules curation labels
        refusals by): a health question or a competitor purchase, or an off-domain topic whose
        other words match no product in the region. "what is the capital of australia" is refused whatever the model
        parsed; "tv for cricket matches" names a product, so the parse stands."""
        reason = off_domain(query, self.store)
        if reason == "off_domain":
            rest = self.index.bm25_scores(without_off_domain_words(query, self.store))
            if (rest * self.index.column(f"region:{region}")).max(initial=0.0) > 0:
                return None
        return reason

    def _campaign_named(self, query: str) -> str | None:
        text = f" {normalize_query(query)} "
        return next(
            (c["id"] for c in self.campaigns.values() if any(f" {n} " in text for n in c.get("names", ()))), None
        )

    def _ranked(self, text: str, mask: np.ndarray) -> list[int]:
        return self.index.hybrid(text, self.index.embed(text), mask, self.pool)

    def search(self, query: str, parse: dict, region: str, k: int = TOP_K, reranker: Reranker | None = None) -> dict:
        """The answer (in the task schema of the parse's intent) and how it was reached.
        With a `reranker`, the model reorders the top k retrieved candidates."""
        start = time.perf_counter()
        idx, rows = self.index, self.index.rows
        intent = parse.get("intent", "search")
        refused = self.refusal(query, region) if self.policy and intent != "refusal" else None
        if refused:
            parse, intent = {"intent": "refusal", "refusal": refused, "region": region}, "refusal"
        result = {"parse": parse, "applied": [], "relaxed": [], **({"policy": refused} if refused else {})}
        if intent == "refusal":
            result["answer"] = {"refusal": parse.get("refusal", "off_domain")}
        elif intent == "compare" and len(parse.get("compare", [])) == 2:
            mask, result["applied"], result["relaxed"] = apply_filters(
                idx, {"category": parse.get("category")}, region, self.campaigns, self.store.currency(region)
            )
            # A side the catalog does not sell ("iPhone 15 Pro Max") gets no SKU rather than a look-alike.
            sides = [s for s in parse["compare"] if s.lower() in idx.family_names or idx.model_codes(s)] or parse[
                "compare"
            ][:1]
            tops = [self._ranked(side, mask)[:1] for side in sides]
            skus = list(dict.fromkeys(rows[p]["sku"] for top in tops for p in top))
            result["answer"] = {"compare": parse["compare"], "skus": skus}
        else:
            named = self._campaign_named(query)
            if named and not parse.get("campaign"):
                parse = {**parse, "campaign": named}  # campaign names are catalog vocabulary: the query's words win
            guess = self._ungrounded_product(query, parse)
            if guess:
                parse = {k: v for k, v in parse.items() if k not in ("product", "category")}
            own = normalize_query(query)
            words = parse.get("query") or own
            if idx.coverage(own) > idx.coverage(words):  # the parse's rewrite lost catalog words ("tapo" -> "tapec")
                words = own
            text = " ".join(x for x in (parse.get("product"), words) if x)
            if self.contradictions:
                against = self._contradicted(text, query, parse, region)
                guess += [f"{k}={parse[k]}" for k in against]
                parse = {k: v for k, v in parse.items() if k not in against}
            mask, result["applied"], result["relaxed"] = apply_filters(
                idx, parse, region, self.campaigns, self.store.currency(region)
            )
            result["relaxed"] += guess
            ranked = self._ranked(text, mask) if mask.any() else []
            if reranker is not None and ranked:
                top = ranked[:k]
                ranked = [top[i] for i in reranker.order(query, region, [rows[p] for p in top])] + ranked[k:]
            skus = [rows[p]["sku"] for p in ranked[:k]]
            if intent == "qa" and skus:
                fact = next(
                    (f for f in idx.by_sku[skus[0]].get("faq", []) if f.get("topic") == parse.get("topic")), None
                )
                result["answer"] = {"answer": fact["a"] if fact else "not stated in the catalog", "skus": skus[:1]}
            else:
                result["answer"] = {"skus": skus}
        result["retrieval_ms"] = round(1000 * (time.perf_counter() - start), 2)
        return result
