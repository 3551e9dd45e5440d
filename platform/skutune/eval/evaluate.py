"""Score every system on the same held-out test set: the base model, the tuned model answering
from memory (closed_book), the tuned model parsing for the catalog index (grounded, optionally
with the model's listwise rerank), and the classic retrievers BM25 and dense."""

import json
import logging
import time
from pathlib import Path

from skutune.config import JobConfig
from skutune.constraints import campaign_families
from skutune.eval.baselines import BASELINES
from skutune.eval.metrics import METRICS, score_example, summarize
from skutune.generate import generate_all, load_model, render
from skutune.runtime.paths import load_jsonl, write_jsonl
from skutune.schemas import parse_answer

log = logging.getLogger(__name__)
GROUNDED = ("grounded", "grounded_rerank")


class Systems:
    """Loads what each system needs once: models, the index, the retrievers."""

    def __init__(self, cfg: JobConfig, model_dir: Path, catalog_rows: list[dict], index_dir: Path | None = None):
        self.cfg, self.model_dir, self.catalog_rows = cfg, model_dir, catalog_rows
        self.index_dir = index_dir or cfg.index_dir()
        self._grounded = None

    def grounded(self):
        if self._grounded is None:
            from skutune.search.grounded import GroundedSearch, Reranker
            from skutune.search.retrieval import CatalogIndex

            index = CatalogIndex.load(self.index_dir, nprobe=self.cfg.index.nprobe)
            if set(index.by_sku) != {r["sku"] for r in self.catalog_rows}:
                raise RuntimeError(
                    f"index {index.dir} holds {len(index)} SKUs, the catalog under evaluation {len(self.catalog_rows)}: "
                    "rebuild it with jobs/index.py so both are the same catalog"
                )
            tok, model = load_model(self.model_dir, self.cfg.adapter_dir(self.cfg.eval.understand_adapter))
            store, parts = self.cfg.store, self.cfg.eval.grounded
            grammar = None
            if parts.grammar:
                from skutune.serve.constrained import Grammars

                grammar = Grammars(tok, model.config.vocab_size, index.by_sku, store).get(
                    "parse", next(iter(store.regions))
                )
            search = GroundedSearch(
                index, store, spelling=parts.spelling, contradictions=parts.evidence, policy=parts.policy
            )
            self._grounded = tok, model, search, Reranker(tok, model, store), grammar
        return self._grounded

    def _parses(self, queries: list[str], examples: list[dict]) -> list[tuple[dict, bool]]:
        """The tuned model's parses of the (corrected) queries, or the rules' alone."""
        from skutune.search.grounded import parse_queries, read_parse

        tok, model, _, _, grammar = self.grounded()
        parts, store = self.cfg.eval.grounded, self.cfg.store
        if not parts.model:
            return [read_parse("", q, e["region"], store, parts.budget_rule) for q, e in zip(queries, examples)]
        regions, dates = [e["region"] for e in examples], [e["date"] for e in examples]
        e = self.cfg.eval
        return parse_queries(
            tok, model, store, queries, regions, dates, e.batch_size, e.parse_max_new_tokens, grammar, parts.budget_rule
        )

    def predict(self, system: str, examples: list[dict]) -> list[dict]:
        """Per example: the raw `output` text, plus `parse`, `applied`, `relaxed` for grounded."""
        if system in BASELINES:
            return [
                {"output": json.dumps(a)}
                for a in BASELINES[system](self.catalog_rows, self.cfg.store).answers(examples)
            ]
        if system in GROUNDED:
            _, _, search, reranker, _ = self.grounded()
            queries = [search.correct(e["query"]) for e in examples]
            out = []
            for e, q, (parse, valid) in zip(examples, queries, self._parses(queries, examples)):
                r = search.search(q, parse, e["region"], reranker=reranker if system == "grounded_rerank" else None)
                out.append(
                    {
                        "output": json.dumps(r["answer"], ensure_ascii=False),
                        "corrected": q,
                        "parse": parse,
                        "parse_valid": valid,
                        "applied": r["applied"],
                        "relaxed": r["relaxed"],
                        "retrieval_ms": r["retrieval_ms"],
                    }
                )
            return out
        adapter = self.cfg.adapter_dir(self.cfg.eval.closed_book_adapter) if system == "closed_book" else None
        tok, model = load_model(self.model_dir, adapter)
        prompts = [render(tok, e["query"], e["region"], e["date"], self.cfg.store) for e in examples]
        return [
            {"output": t}
            for t in generate_all(
                tok, model, prompts, self.cfg.eval.batch_size, self.cfg.eval.max_new_tokens, desc=f"eval {system}"
            )
        ]


def score_systems(systems: Systems, names, examples: list[dict], catalog: dict) -> tuple[dict, list[dict]]:
    """Metrics per system (overall and by kind, with ms per query) and every scored prediction."""
    campaigns = campaign_families(systems.cfg.store)
    report, predictions = {}, []
    for system in names:
        start = time.perf_counter()
        preds = systems.predict(system, examples)
        ms = 1000 * (time.perf_counter() - start) / max(1, len(examples))
        scores = [
            score_example(e, parse_answer(p["output"]), catalog, system not in BASELINES, campaigns)
            for e, p in zip(examples, preds)
        ]
        report[system] = summarize(examples, scores) | {"ms_per_query": round(ms, 1)}
        if system in GROUNDED:
            report[system]["parse_valid"] = sum(p["parse_valid"] for p in preds) / max(1, len(preds))
            report[system]["hallucinated_skus"] = sum(s["_skus_unknown"] for s in scores)
        predictions += [
            {"system": system, "id": e["id"], "kind": e["kind"], "query": e["query"], **p, **s}
            for e, p, s in zip(examples, preds, scores)
        ]
        log.info(
            "%s: %s", system, {m: report[system][m] for m in ("json_valid", "hit_at_1", "hit_at_5", "ms_per_query")}
        )
    return report, predictions


def run_eval(cfg: JobConfig, model_dir: Path) -> dict:
    rd = cfg.run_dir()
    examples = load_jsonl(rd.test)
    catalog_rows = load_jsonl(rd.catalog)
    systems, predictions = score_systems(
        Systems(cfg, model_dir, catalog_rows), cfg.eval.systems, examples, {r["sku"]: r for r in catalog_rows}
    )
    report = {
        "systems": systems,
        "n_examples": len(examples),
        "model": str(model_dir),
        "adapters": {
            "closed_book": str(cfg.adapter_dir(cfg.eval.closed_book_adapter)),
            "understand": str(cfg.adapter_dir(cfg.eval.understand_adapter)),
        },
    }
    out = cfg.output_dir()
    (out / "eval.json").write_text(json.dumps(report, indent=2))
    write_jsonl(out / "predictions.jsonl", predictions)
    (out / "eval.md").write_text(markdown_table(report))
    return report


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.2f}"


def markdown_table(report: dict) -> str:
    systems = report["systems"]
    cols = (*METRICS, "ms_per_query")
    lines = ["| system | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    lines += [
        f"| {name} | " + " | ".join(_fmt(s[m]) if m != "ms_per_query" else f"{s[m]:.0f}" for m in cols) + " |"
        for name, s in systems.items()
    ]
    kinds = list(next(iter(systems.values()))["by_kind"])
    lines += [
        "",
        "hit@1 by query kind (qa/comparison: the product asked about; policy: no SKU applies)",
        "",
        "| kind | " + " | ".join(systems) + " |",
        "|---" * (len(systems) + 1) + "|",
    ]
    lines += [
        f"| {k} | " + " | ".join(_fmt(s["by_kind"][k]["hit_at_1"]) for s in systems.values()) + " |" for k in kinds
    ]
    return "\n".join(lines) + "\n"
