"""The skutune Serve application: one base model in memory, per-task LoRA adapters loaded
per request with `@serve.multiplexed` (LRU per replica), answers enriched from the catalog.

    serve run serve/config.yaml                 # or, from Python: serve.run(build_app(args))
    curl -s localhost:8000/v1/search -d '{"query": "samzung fridg", "adapter": "search", "region": "IN"}'
"""

import asyncio
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
from skutune.model_import import resolve_model_dir
from skutune.schemas import SCHEMAS, parse_answer
from skutune.serving import ADAPTER_ID, BASE, adapter_path, list_adapters, product_cards

MAX_ADAPTERS_PER_REPLICA = 8  # LRU: the least recently used adapter is unloaded beyond this
api = FastAPI(title="skutune search", description="Catalog-grounded product search with per-task adapters.")


class AppArgs(BaseModel):
    """`args` of build_app / serve/config.yaml. Relative paths are taken from the working dir."""
    model_config = ConfigDict(extra="forbid")
    model: str = "embedded"  # "embedded" or a local HF model directory
    adapters_dir: str = "runs/demo/adapters"
    catalog: str = "runs/demo/data/catalog.jsonl"
    threads: int | None = None
    max_new_tokens: int = Field(64, ge=1, le=512)


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=500)
    adapter: str = Field("search", pattern=ADAPTER_ID, description='adapter id, or "base" for the untuned model')
    region: Literal["IN", "EU", "US"] = "IN"
    date: dt.date | None = None


class _LoadedAdapter:
    """What the multiplexed cache holds; Serve calls __del__ when it evicts the adapter."""

    def __init__(self, peft_model, name):
        self.peft_model, self.name, self.live = peft_model, name, True

    def __del__(self):
        if self.live:
            self.live = False
            self.peft_model.delete_adapter(self.name)


@serve.deployment(ray_actor_options={"num_cpus": 1}, max_ongoing_requests=16, health_check_period_s=10)
@serve.ingress(api)
class SearchService:
    def __init__(self, args: dict):
        self.args = AppArgs.model_validate(args)
        torch.set_num_threads(self.args.threads or os.cpu_count() or 1)
        self.tok, self.base = load_model(resolve_model_dir(ModelConfig(path=self.args.model)))
        self.adapters_dir = Path(self.args.adapters_dir).resolve()
        self.catalog = {r["sku"]: r for r in map(json.loads, Path(self.args.catalog).read_text().splitlines())}
        self.peft = None  # the PeftModel wrapping self.base once the first adapter loads
        self.lock = asyncio.Lock()  # one generation at a time per replica: the active adapter is model state

    @serve.multiplexed(max_num_models_per_replica=MAX_ADAPTERS_PER_REPLICA)
    async def get_adapter(self, adapter_id: str) -> _LoadedAdapter:
        from peft import PeftModel

        path = adapter_path(self.adapters_dir, adapter_id)
        if path is None:
            raise HTTPException(404, detail=f"unknown adapter {adapter_id!r}; available: {list_adapters(self.adapters_dir) + [BASE]}")
        async with self.lock:
            if self.peft is None:
                self.peft = PeftModel.from_pretrained(self.base, str(path), adapter_name=adapter_id).eval()
            else:
                self.peft.load_adapter(str(path), adapter_name=adapter_id)
        return _LoadedAdapter(self.peft, adapter_id)

    def _generate(self, prompt: str, adapter: str | None) -> str:
        if adapter is None:
            if self.peft is None:
                return generate_batch(self.tok, self.base, [prompt], self.args.max_new_tokens)[0]
            with self.peft.disable_adapter():
                return generate_batch(self.tok, self.peft, [prompt], self.args.max_new_tokens)[0]
        self.peft.set_adapter(adapter)
        return generate_batch(self.tok, self.peft, [prompt], self.args.max_new_tokens)[0]

    @api.get("/healthz")
    async def healthz(self) -> dict:
        return {"status": "ok", "catalog_skus": len(self.catalog)}

    @api.get("/v1/adapters")
    async def adapters(self) -> dict:
        return {"adapters": [BASE] + list_adapters(self.adapters_dir)}

    @api.get("/v1/schemas")
    async def schemas(self) -> dict:
        """The published JSON Schema of every task's answer."""
        return SCHEMAS

    @api.post("/v1/search")
    async def search(self, req: SearchRequest) -> dict:
        start = time.time()
        adapter = None if req.adapter == BASE else (await self.get_adapter(req.adapter)).name
        prompt = render(self.tok, req.query, req.region, (req.date or dt.date.today()).isoformat())
        async with self.lock:
            text = await asyncio.to_thread(self._generate, prompt, adapter)
        answer = parse_answer(text)
        cards, dropped = product_cards(answer, self.catalog, req.region)
        return {"query": req.query, "adapter": req.adapter, "region": req.region, "answer": answer, "results": cards,
                "dropped_skus": dropped, "dropped_count": len(dropped), "raw": text,
                "latency_ms": round(1000 * (time.time() - start), 1)}


def build_app(args: dict) -> serve.Application:
    AppArgs.model_validate(args)  # fail at deploy time, naming the bad key, not inside a replica
    return SearchService.bind(dict(args))
