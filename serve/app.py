"""The skutune Serve application: one base model in memory, per-task LoRA adapters loaded
per request with `@serve.multiplexed` (LRU per replica), answers enriched from the catalog.

Two modes on POST /v1/search:
- closed_book: the adapter (default "search") answers with SKUs from what it learned;
- grounded: the adapter (default "understand") parses the query, the catalog index answers
  (grounded.py); the response names the filters applied and relaxed. The replica follows
  the index's live version, so SKUs added by jobs/index.py are searchable when it ends.

    serve run serve/config.yaml                 # or, from Python: serve.run(build_app(args))
    curl -s localhost:8000/v1/search -d '{"query": "samzung fridg", "region": "IN"}'
    curl -s localhost:8000/v1/search -d '{"query": "fridge for family of 5 under ₹60,000", "mode": "grounded", "region": "IN"}'
"""

import asyncio
import contextlib
import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, HTTPException
import torch
from pydantic import BaseModel, ConfigDict, Field
from ray import serve

from skutune.config import ModelConfig
from skutune.generate import generate_batch, load_model, render
from skutune.grounded import GroundedSearch, Reranker, fallback_parse, parse_is_valid
from skutune.index import current_version
from skutune.model_import import resolve_model_dir
from skutune.retrieval import CatalogIndex
from skutune.schemas import SCHEMAS, parse_answer
from skutune.serving import ADAPTER_ID, BASE, adapter_path, list_adapters, product_cards, shares_base
from skutune.understand import PARSE_SCHEMA

MAX_ADAPTERS_PER_REPLICA = 8  # LRU: the least recently used adapter is unloaded beyond this
api = FastAPI(title="skutune search", description="Catalog-grounded product search with per-task adapters.")


class AppArgs(BaseModel):
    """`args` of build_app / serve/config.yaml. Relative paths are taken from the working dir."""
    model_config = ConfigDict(extra="forbid")
    model: str = "embedded"  # "embedded" or a local HF model directory
    adapters_dir: str = "runs/demo/adapters"
    catalog: str = "runs/demo/data/catalog.jsonl"
    index: str = "runs/demo/index"  # grounded mode's catalog index (jobs/index.py)
    understand_adapter: str = Field("understand", pattern=ADAPTER_ID)
    threads: int | None = None
    max_new_tokens: int = Field(64, ge=1, le=512)
    parse_max_new_tokens: int = Field(128, ge=1, le=512)


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=500)
    mode: Literal["closed_book", "grounded"] = "closed_book"
    adapter: str | None = Field(None, pattern=ADAPTER_ID, description='adapter id (default: "search" closed-book, '
                                '"understand" grounded), or "base" for the untuned model')
    region: Literal["IN", "EU", "US"] = "IN"
    date: dt.date | None = None
    k: int = Field(5, ge=1, le=20, description="grounded: results to return")
    rerank: bool = Field(False, description="grounded: let the model reorder the top k candidates")


class _LoadedAdapter:
    """What the multiplexed cache holds; Serve calls __del__ when it evicts the adapter.
    A LoRA adapter lives by name in the replica's shared PeftModel; any other method's artefact
    is a model of its own (`own`), freed with this object."""

    def __init__(self, peft_model, name, own=None):
        self.peft_model, self.name, self.own, self.live = peft_model, name, own, True

    def __del__(self):
        if self.live and self.own is None:
            self.live = False
            self.peft_model.delete_adapter(self.name)


@serve.deployment(ray_actor_options={"num_cpus": 1}, max_ongoing_requests=16, health_check_period_s=10)
@serve.ingress(api)
class SearchService:
    def __init__(self, args: dict):
        self.args = AppArgs.model_validate(args)
        torch.set_num_threads(self.args.threads or os.cpu_count() or 1)
        self.model_dir = resolve_model_dir(ModelConfig(path=self.args.model))
        self.tok, self.base = load_model(self.model_dir)
        self.adapters_dir = Path(self.args.adapters_dir).resolve()
        self.catalog = {r["sku"]: r for r in map(json.loads, Path(self.args.catalog).read_text().splitlines())}
        self.peft = None  # the PeftModel wrapping self.base once the first adapter loads
        self.lock = asyncio.Lock()  # one generation at a time per replica: the active adapter is model state
        self.index_dir = Path(self.args.index).resolve()
        self.grounded = None  # GroundedSearch over the index version named by CURRENT, reloaded when it moves

    @serve.multiplexed(max_num_models_per_replica=MAX_ADAPTERS_PER_REPLICA)
    async def get_adapter(self, adapter_id: str) -> _LoadedAdapter:
        from peft import PeftModel

        path = adapter_path(self.adapters_dir, adapter_id)
        if path is None:
            raise HTTPException(404, detail=f"unknown adapter {adapter_id!r}; available: {list_adapters(self.adapters_dir) + [BASE]}")
        if not shares_base(path):
            _, own = await asyncio.to_thread(load_model, self.model_dir, path)
            return _LoadedAdapter(None, adapter_id, own)
        async with self.lock:
            if self.peft is None:
                self.peft = PeftModel.from_pretrained(self.base, str(path), adapter_name=adapter_id).eval()
            else:
                self.peft.load_adapter(str(path), adapter_name=adapter_id)
        return _LoadedAdapter(self.peft, adapter_id)

    @contextlib.contextmanager
    def _active(self, adapter: _LoadedAdapter | None):
        """The model with `adapter` active (None: the base). Callers hold the lock."""
        if adapter is not None and adapter.own is not None:
            yield adapter.own
        elif adapter is None and self.peft is None:
            yield self.base
        elif adapter is None:
            with self.peft.disable_adapter():
                yield self.peft
        else:
            self.peft.set_adapter(adapter.name)
            yield self.peft

    def _generate(self, prompt: str, adapter: _LoadedAdapter | None, max_new_tokens: int) -> str:
        with self._active(adapter) as model:
            return generate_batch(self.tok, model, [prompt], max_new_tokens)[0]

    def _index(self) -> GroundedSearch:
        version = current_version(self.index_dir)
        if version is None:
            raise HTTPException(503, detail=f"grounded mode needs a catalog index at {self.index_dir}: run jobs/index.py")
        if self.grounded is None or self.grounded.index.dir != version:
            encoder = self.grounded.index.encoder if self.grounded else None
            index = CatalogIndex(version, encoder=encoder)
            self.grounded = GroundedSearch(index, index.meta.get("campaigns", ()))
        return self.grounded

    def _grounded(self, req, adapter: _LoadedAdapter | None, prompt: str) -> dict:
        search = self._index()
        text = self._generate(prompt, adapter, self.args.parse_max_new_tokens)
        parse = parse_answer(text)
        valid = parse_is_valid(parse)
        if not valid:
            parse = fallback_parse(req.query, req.region)
        with self._active(adapter) as model:
            result = search.search(req.query, parse, req.region, req.k, Reranker(self.tok, model) if req.rerank else None)
        return {**result, "raw": text, "parse_valid": valid, "version": search.index.dir.name}

    @api.get("/healthz")
    async def healthz(self) -> dict:
        return {"status": "ok", "catalog_skus": len(self.catalog)}

    @api.get("/v1/adapters")
    async def adapters(self) -> dict:
        return {"adapters": [BASE] + list_adapters(self.adapters_dir)}

    @api.get("/v1/schemas")
    async def schemas(self) -> dict:
        """The published JSON Schema of every task's answer, and of the grounded-mode parse."""
        return {**SCHEMAS, "parse": PARSE_SCHEMA}

    @api.post("/v1/search")
    async def search(self, req: SearchRequest) -> dict:
        start = time.time()
        grounded = req.mode == "grounded"
        adapter_id = req.adapter or (self.args.understand_adapter if grounded else "search")
        adapter = None if adapter_id == BASE else await self.get_adapter(adapter_id)
        date = (req.date or dt.date.today()).isoformat()
        prompt = render(self.tok, req.query, req.region, date, target="parse" if grounded else "answer")
        out = {"query": req.query, "mode": req.mode, "adapter": adapter_id, "region": req.region}
        async with self.lock:
            if grounded:
                r = await asyncio.to_thread(self._grounded, req, adapter, prompt)
                catalog = self.grounded.index.by_sku
                out |= {"parse": r["parse"], "parse_valid": r["parse_valid"], "constraints_applied": r["applied"],
                        "constraints_relaxed": r["relaxed"], "index_version": r["version"]}
                text, answer = r["raw"], r["answer"]
            else:
                text = await asyncio.to_thread(self._generate, prompt, adapter, self.args.max_new_tokens)
                catalog, answer = self.catalog, parse_answer(text)
        cards, dropped = product_cards(answer, catalog, req.region)
        return out | {"answer": answer, "results": cards, "dropped_skus": dropped, "dropped_count": len(dropped), "raw": text,
                      "latency_ms": round(1000 * (time.time() - start), 1)}


def build_app(args: dict) -> serve.Application:
    AppArgs.model_validate(args)  # fail at deploy time, naming the bad key, not inside a replica
    return SearchService.bind(dict(args))
