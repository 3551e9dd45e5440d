"""Head queries answered ahead of time. A few queries make most of a store's traffic; each one's
model output (grounded mode's parse, closed-book's answer) is the same for every shopper who types
it on a day, so a Ray Data batch job computes it once and every replica looks it up:

    query log -> validate (PII scrubbed, as curate does) -> count per (region, query) -> top N
      -> the replica's own engine (same adapter, prompt, grammar and budget) -> a new table version

The table is versioned like the catalog index (`<root>/v0001/`, `CURRENT` names the live one) and
replicas follow CURRENT, so a refresh (`skutune parse-cache` again, e.g. nightly with the index)
goes live without a restart. An entry is keyed by adapter id, target, region, date and the
normalised query (grounded: after spelling correction, as the replica parses it); a table built
with other serving settings (model, constrained decoding, token budgets) is not used, nor an
entry of an adapter whose weights changed since (a retrained "understand": cards.Digests).

    skutune parse-cache --config demo                        # after train: runs/demo/parse_cache/
    skutune parse-cache --config demo --set serve.parse_cache.top=2000
"""

import datetime as dt
import json
import logging
import time
from pathlib import Path

import pandas as pd
import ray

from skutune.prompts import normalize_query
from skutune.runtime.paths import load_jsonl, write_jsonl
from skutune.search.index import current_version, make_live, new_version_dir

log = logging.getLogger(__name__)
TABLE = "entries.jsonl"
TARGETS = ("parse", "answer")  # grounded mode's parse (the understand adapter), closed-book's answer


def settings(args) -> dict:
    """What an entry's text depends on beyond its key: a table built with other settings is not used."""
    return {
        "model": args.model,
        "constrained": args.constrained,
        "max_new_tokens": args.max_new_tokens,
        "parse_max_new_tokens": args.parse_max_new_tokens,
    }


def entry_key(adapter_id: str, target: str, region: str, day: str, query: str) -> tuple:
    return adapter_id, target, region, day, normalize_query(query)


class ParseCache:
    """One version of the table, in memory: a dict lookup per request."""

    def __init__(self, version_dir: Path):
        self.dir = Path(version_dir)
        self.meta = json.loads((self.dir / "meta.json").read_text())
        self.digests = self.meta.get("adapters", {})  # adapter id -> the digest of the weights it answered with
        self.entries = {
            entry_key(e["adapter"], e["target"], e["region"], e["date"], e["query"]): e["text"]
            for e in load_jsonl(self.dir / TABLE)
        }
        self.usable = True

    def get(self, adapter_id: str, digest: str, target: str, region: str, day: dt.date, query: str) -> str | None:
        """The cached text, or None (a miss) also where `digest` (the adapter's weights now) is not
        the one the table was built with."""
        if not self.usable or self.digests.get(adapter_id) != digest:
            return None
        return self.entries.get(entry_key(adapter_id, target, region, day.isoformat(), query))

    def parses(self, adapter_id: str):
        """(region, query, text) of each grounded parse the table holds for `adapter_id`."""
        for (adapter, target, region, _, query), text in self.entries.items():
            if adapter == adapter_id and target == "parse":
                yield region, query, text

    @classmethod
    def live(cls, root: Path, held: "ParseCache | None", app_settings: dict) -> "ParseCache | None":
        """The version CURRENT names (`held` if it still is), or None where there is none. A
        version built with other settings than `app_settings` is held but answers nothing."""
        version = current_version(root)
        if version is None or (held is not None and held.dir == version):
            return held if version is not None else None
        table = cls(version)
        table.usable = table.meta["settings"] == app_settings and "adapters" in table.meta
        if table.meta["settings"] != app_settings:
            log.warning(
                "parse cache %s was built with %s, not %s: not used", version, table.meta["settings"], app_settings
            )
        elif not table.usable:
            log.warning(
                "parse cache %s records no adapter digests (an older build): run `skutune parse-cache`", version
            )
        return table


def head_queries(log_path: str | Path, columns: dict, skus: set[str], regions: list[str], top: int) -> pd.DataFrame:
    """The `top` most frequent (region, normalised query) pairs of the log's valid rows, with counts."""
    from skutune.data.curate import where
    from skutune.data.querylog import validate_log
    from skutune.data.readers import read_rows

    valid = where(
        read_rows(log_path).map_batches(
            validate_log,
            fn_kwargs={"columns": columns, "known_skus": skus, "regions": regions},
            batch_format="pandas",
        ),
        error="",
    )
    keyed = valid.map_batches(
        lambda df: pd.DataFrame({"region": df["region"], "query": df["query"].map(normalize_query)}),
        batch_format="pandas",
    )
    counts = keyed.groupby(["region", "query"]).count().sort("count()", descending=True).limit(top).to_pandas()
    return counts.rename(columns={"count()": "count"})


class Answerer:
    """Ray Data actor: the Serve replica's engine, registry and index, answering a batch of head
    queries exactly as a replica would (same adapter resolution, prompt, grammar and budget)."""

    def __init__(self, args: dict, day: str, targets: tuple):
        import torch

        from skutune.config import ModelConfig
        from skutune.runtime.model_import import resolve_model_dir
        from skutune.search.retrieval import CatalogIndex
        from skutune.serve.args import AppArgs
        from skutune.serve.cards import Digests
        from skutune.serve.engine import ServingEngine
        from skutune.serve.registry import Registry

        self.args = AppArgs.model_validate(args).localised()
        if self.args.threads:
            torch.set_num_threads(self.args.threads)
        self.store = self.args.store_profile()
        catalog = {r["sku"]: r for r in load_jsonl(self.args.path("catalog"))}
        self.engine = ServingEngine(
            resolve_model_dir(ModelConfig(path=self.args.model)), catalog, self.store, self.args.max_loaded_adapters
        )
        self.registry = Registry(self.args.path("adapters_dir"), self.args.source_policy())
        self.digests = Digests()
        self.day, self.targets = dt.date.fromisoformat(day), targets
        version = current_version(self.args.path("index").resolve()) if "parse" in targets else None
        self.index = CatalogIndex(version) if version else None

    def _adapter(self, target: str, region: str):
        """The adapter a replica serves a request without one by (Registry.serving)."""
        grounded = target == "parse"
        entry = self.registry.serving(None, self.args.default_for(grounded), self.day, region, campaigns=not grounded)
        if entry is None:
            raise RuntimeError(f"no adapter {self.args.default_for(grounded)!r} under {self.args.path('adapters_dir')}")
        return entry, self.engine.adapter(entry.id, entry.path)

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        from skutune.generate import render
        from skutune.serve.engine import GenRequest

        rows, jobs = [], []
        for target in self.targets:
            if target == "parse" and self.index is None:
                continue  # no catalog index: grounded mode answers nothing, so nothing to cache for it
            for region, query, count in zip(batch["region"], batch["query"], batch["count"]):
                entry, adapter = self._adapter(target, region)
                text = self.index.speller.correct(query) if target == "parse" else query
                budget = self.args.parse_max_new_tokens if target == "parse" else self.args.max_new_tokens
                grammar = self.engine.grammars.get("search" if target == "answer" else target, region)
                prompt = render(self.engine.tok, text, region, self.day.isoformat(), self.store, target=target)
                jobs.append(GenRequest(prompt, adapter, budget, grammar if self.args.constrained else None))
                rows.append(
                    {
                        "adapter": entry.id,
                        "digest": self.digests.of(entry.path),
                        "target": target,
                        "region": region,
                        "query": normalize_query(text),
                    }
                    | {"date": self.day.isoformat(), "count": int(count)}
                )
        results = self.engine.run(jobs) if jobs else []
        return pd.DataFrame([r | {"text": res.text} for r, res in zip(rows, results)]) if rows else pd.DataFrame()


def build_parse_cache(
    args: dict, log_path: str | Path, columns: dict, top: int, day: dt.date, targets=TARGETS, batch_size: int = 16
) -> dict:
    """A new version of the table under args' `parse_cache` root, live when it returns. Returns its meta."""
    from skutune.serve.args import AppArgs

    app = AppArgs.model_validate(args).localised()  # the table is written here, then uploaded (pipeline.synced)
    root = app.parse_cache_dir()
    if root is None:
        raise ValueError("the app's args name no parse cache: set parse_cache or run_dir")
    start = time.time()
    store_regions = list(app.store_profile().regions)
    skus = {r["sku"] for r in load_jsonl(app.path("catalog"))}
    head = head_queries(log_path, columns, skus, store_regions, top)
    counted = time.time() - start
    log.info("parse cache: %d head queries (of the top %d asked) from %s", len(head), top, log_path)
    answered = (
        ray.data.from_pandas(head)
        .map_batches(
            Answerer,
            fn_constructor_args=(args, day.isoformat(), tuple(targets)),
            compute=ray.data.ActorPoolStrategy(size=1),
            batch_size=batch_size,
            batch_format="pandas",
        )
        .to_pandas()
        if len(head)
        else pd.DataFrame()
    )
    entries = answered.to_dict("records")
    digests = {}  # an adapter retrained while the table was built answered with two: none of its entries count
    for e in entries:
        digest = e.pop("digest")
        digests[e["adapter"]] = digest if digests.get(e["adapter"], digest) == digest else None
    meta = {
        "adapters": {k: v for k, v in digests.items() if v},
        "entries": len(entries),
        "head_queries": len(head),
        "log_rows_covered": int(head["count"].sum()) if len(head) else 0,
        "date": day.isoformat(),
        "targets": list(targets),
        "settings": settings(app),
        "log": str(log_path),
        "seconds": {"count": round(counted, 1), "total": round(time.time() - start, 1)},
    }
    out = new_version_dir(root)
    write_jsonl(out / TABLE, entries)
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    make_live(root, out)
    log.info("parse cache: %d entries in %s (live)", len(entries), out)
    return meta | {"version": out.name}
