"""The skutune Serve application: one base model in memory, versioned per-task adapters from the
registry (LRU per replica), answers held to catalog SKUs by constrained decoding.

Routes (all JSON; every route but /, /healthz and /readyz needs
`Authorization: Bearer <token>` when a token is set; POST and DELETE /v1/adapters need the
admin token, see ops.py):
- POST /v1/search: closed_book (the adapter answers) or grounded (the adapter parses, the catalog
  index answers, following the index's live version: grounded.py), with product cards.
- POST /v1/chat/completions (streaming or not), GET /v1/models: OpenAI-compatible, with
  model="<base>:<adapter>"; see openai_api.py.
- GET/POST /v1/adapters, DELETE /v1/adapters/{id}: the registry (registry.py; sources.py says
  where an adapter may be copied from).
- GET /: the merchandiser's search page; /metrics: Prometheus text.

Concurrent requests for different adapters are gathered by `@serve.batch` into one forward pass
(engine.py: peft's per-row `adapter_names`).

The routes run inside each SearchService replica (`asgi`); the app's HTTP ingress is the Gateway
(gateway.py), which relays requests to the replicas and answers 503 + Retry-After for a request
whose replica is lost.

    serve run serve/config.yaml                 # or, from Python: serve.run(build_app(args))
    curl -s localhost:8000/v1/search -H "Authorization: Bearer $SKUTUNE_API_TOKEN" -d '{"query": "samzung fridg", "region": "IN"}'
"""

import asyncio
import collections
import concurrent.futures
import datetime as dt
import itertools
import logging
import os
import time
from pathlib import Path

import ray
import torch
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST
from ray import serve

from skutune.config import ModelConfig
from skutune.generate import render
from skutune.parse import parse_schema
from skutune.runtime.model_import import resolve_model_dir
from skutune.runtime.paths import load_jsonl
from skutune.runtime.storage import download, follow
from skutune.schemas import SCHEMAS, parse_answer
from skutune.search.grounded import GroundedSearch, Reranker, read_parse
from skutune.search.index import current_version
from skutune.search.retrieval import EMBED_CACHE, CatalogIndex
from skutune.serve.args import AppArgs, RegisterRequest, SearchRequest
from skutune.serve.cards import BASE, Digests, product_cards
from skutune.serve.engine import AdapterLoadError, GenRequest, Result, ServingEngine
from skutune.serve.gateway import Gateway
from skutune.serve.openai_api import ChatRequest, Chunks, chat_prompt, completion, split_model
from skutune.serve.ops import Guard, Laps, Metrics, internal_error, route_path, validation_error
from skutune.serve.parse_cache import ParseCache, settings
from skutune.serve.registry import BadAdapter, Entry, Protected, Registry

PAGE = Path(__file__).with_name("search.html")
logger = logging.getLogger("ray.serve")  # Ray Serve's replica logs
ROUTES = {
    "/",
    "/healthz",
    "/readyz",
    "/metrics",
    "/v1/search",
    "/v1/chat/completions",
    "/v1/models",
    "/v1/adapters",
    "/v1/schemas",
}


class Guarded:
    """The replica's guard (ops.Guard) and its count of responses by route and status, as plain
    ASGI middleware. Starlette's `@app.middleware("http")` re-sends every answer as a stream (the
    body, then an empty last part), so the Gateway relayed each JSON answer as a stream too: more
    round trips, on every cache hit."""

    def __init__(self, app, svc: "SearchService"):
        self.app, self.svc = app, svc

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        status = "500"  # unless the app starts an answer: an exception escaping it is answered 500

        async def counted(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            await send(message)

        try:
            await (self.svc.guard.check(request) or self.app)(scope, receive, counted)
        finally:
            path = route_path(request)
            self.svc.metrics.responses.labels(path if path in ROUTES else "other", status).inc()


def make_api(svc: "SearchService") -> FastAPI:
    """The replica's HTTP routes, each closing over the replica `svc` (run in-process by `asgi`)."""
    api = FastAPI(title="skutune search", description="Catalog-grounded product search with per-task adapters.")
    api.add_exception_handler(RequestValidationError, validation_error)
    api.add_exception_handler(Exception, internal_error)

    api.add_middleware(Guarded, svc=svc)

    @api.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok", "catalog_skus": len(svc.catalog)}

    @api.get("/readyz")
    async def readyz() -> JSONResponse:
        checks = {
            "model": svc.engine.base is not None,
            "catalog": bool(svc.catalog),
            "default_adapter": svc.registry.resolve(svc.args.default_adapter) is not None,
            "index": current_version(svc.index_dir) is not None,
        }
        ready = checks["model"] and checks["catalog"]  # without an adapter or index the app still serves the base
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @api.get("/metrics")
    async def metrics() -> Response:
        return Response(svc.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @api.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return PAGE.read_text()

    @api.get("/v1/adapters")
    async def adapters() -> dict:
        today = dt.date.today()
        return {
            "adapters": [{"id": BASE}] + [e.public() for e in svc.registry.entries()],
            "default": svc.args.default_adapter,
            "store": svc.store.name,
            "regions": list(svc.store.regions),
            "campaigns_today": {r: getattr(svc.registry.campaign(today, r), "id", None) for r in svc.store.regions},
            "loaded_in_this_replica": list(svc.engine.loaded),
            "max_loaded": svc.args.max_loaded_adapters,
        }

    @api.post("/v1/adapters", status_code=201)
    async def register(req: RegisterRequest) -> dict:
        if req.valid_from and req.valid_to and req.valid_from > req.valid_to:
            raise HTTPException(422, detail="valid_from is after valid_to")
        unknown = sorted(set(req.regions) - set(svc.store.regions))
        if unknown:
            raise HTTPException(422, detail=f"regions {unknown[:3]} are not this store's {sorted(svc.store.regions)}")
        entry = await svc.admin(svc.registry.register, req.name, req.source, req.valid_from, req.valid_to, req.regions)
        return entry.public()

    @api.delete("/v1/adapters/{adapter_id}")
    async def delete(adapter_id: str) -> dict:
        gone = await svc.admin(svc.registry.delete, adapter_id)
        if not gone:
            raise HTTPException(404, detail=f"unknown adapter {adapter_id!r}")
        async with svc.lock:
            for adapter_id in gone:  # other replicas' copies can no longer be resolved, and age out of their LRU
                svc.engine.unload(adapter_id)
        return {"deleted": gone}

    @api.get("/v1/schemas")
    async def schemas() -> dict:
        """The published JSON Schema of every task's answer, and of the grounded-mode parse."""
        return {**SCHEMAS, "parse": parse_schema(svc.store)}

    @api.get("/v1/models")
    async def models() -> dict:
        name = svc.args.served_model_name
        ids = [name] + [f"{name}:{e.id}" for e in svc.registry.entries()]
        return {
            "object": "list",
            "data": [{"id": i, "object": "model", "created": 0, "owned_by": "skutune"} for i in ids],
        }

    @api.post("/v1/search")
    async def search(req: SearchRequest) -> dict:
        start, laps = time.time(), Laps()
        grounded = req.mode == "grounded"
        day = req.date or dt.date.today()
        region = svc.region(req.region)
        entry = svc._entry(req.adapter, day, region, grounded)
        constrained = svc.args.constrained if req.constrained is None else req.constrained
        # grounded: the model parses the query in the catalog's spelling ("melisa doug" -> "melissa doug")
        index = await svc._index() if grounded else None  # the live index version, read once per request
        query = index.correct(req.query) if grounded else req.query
        laps("correct")
        cached = await svc._cached(entry, "parse" if grounded else "answer", region, day, query, constrained)
        if grounded:
            svc._warm(index, entry)
        laps("parse_cache")
        # a head query answered ahead of time needs no model, unless the model reranks
        adapter_id, adapter = await svc._load(entry) if cached is None or req.rerank else (entry.id, None)
        laps("load")
        prompt = render(
            svc.engine.tok, query, region, day.isoformat(), svc.store, target="parse" if grounded else "answer"
        )
        out = {
            "query": req.query,
            "mode": req.mode,
            "adapter": adapter_id,
            "region": region,
            "constrained": constrained,
            "parse_cache": "hit" if cached else "miss",
        }
        if grounded:
            r = await svc._grounded(index, req, query, region, adapter, prompt, constrained, cached, laps)
            out |= {
                "corrected_query": query,
                "parse": r["parse"],
                "parse_valid": r["parse_valid"],
                "constraints_applied": r["applied"],
                "constraints_relaxed": r["relaxed"],
                "index_version": r["version"],
            }
            result, catalog, answer = r["result"], index.index.by_sku, r["answer"]
        else:
            grammar = svc.engine.grammars.get("search", region) if constrained else None
            result = cached or await svc._run(GenRequest(prompt, adapter, svc.args.max_new_tokens, grammar))
            if result is not cached:
                laps("queue", ("decode", result.decode_ms))
            catalog, answer = svc.catalog, parse_answer(result.text)
        cards, dropped = product_cards(answer, catalog, region, svc.store.currency(region))
        laps("cards")
        svc.metrics.observe("search", adapter_id, 200, start, result.prompt_tokens, result.completion_tokens)
        return out | {
            "answer": answer,
            "results": cards,
            "dropped_skus": dropped,
            "dropped_count": len(dropped),
            "raw": result.text,
            "latency_ms": round(1000 * (time.time() - start), 1),
            "stages_ms": laps.ms,
        }

    @api.post("/v1/chat/completions")
    async def chat(req: ChatRequest):
        start = time.time()
        try:
            ref = split_model(req.model, svc.args.served_model_name)
        except ValueError as err:
            raise HTTPException(404, detail=str(err)) from err
        day = req.date or dt.date.today()
        region = svc.region(req.region)
        adapter_id, adapter = await svc._load(svc._entry(ref, day, region))
        constrained = (
            req.constrained
            if req.constrained is not None
            else (
                svc.args.constrained or (req.response_format is not None and req.response_format.type == "json_object")
            )
        )
        grammar = svc.engine.grammars.get(req.task, region) if constrained else None
        job = GenRequest(
            svc._prompt(chat_prompt(svc.engine.tok, req, region, day, svc.store)),
            adapter,
            svc._budget(req.max_completion_tokens or req.max_tokens, svc.args.max_new_tokens),
            grammar,
        )
        model = f"{svc.args.served_model_name}:{adapter_id}"
        if req.stream:
            if svc.streams_open >= svc.args.max_streams:
                raise HTTPException(
                    503,
                    detail=f"{svc.args.max_streams} streams already open on this replica; retry",
                    headers={"Retry-After": str(svc.args.retry_after_s)},
                )
            return StreamingResponse(svc._stream(job, model, adapter_id, start, req), media_type="text/event-stream")
        r = await svc._run(job)
        svc.metrics.observe("chat", adapter_id, 200, start, r.prompt_tokens, r.completion_tokens)
        return completion(model, r.text, r.finish_reason, r.prompt_tokens, r.completion_tokens)

    return api


@serve.deployment(ray_actor_options={"num_cpus": 1}, max_ongoing_requests=32, health_check_period_s=10)
class SearchService:
    def __init__(self, args: dict):
        self.args = AppArgs.model_validate(args)
        self.remote = self.args.remote()  # followed in object storage (_follow)
        self.args = self.args.localised()
        self.polled, self.polling = time.monotonic(), False
        torch.set_num_threads(replica_threads(self.args.threads))
        self.guard = Guard.from_args(self.args)
        self.store = self.args.store_profile()
        self.catalog = {r["sku"]: r for r in load_jsonl(self.args.path("catalog"))}
        self.engine = ServingEngine(
            resolve_model_dir(ModelConfig(path=self.args.model)),
            self.catalog,
            self.store,
            self.args.max_loaded_adapters,
            int(self.args.max_loaded_gib * 2**30),
            self.args.answers(),
            self.args.one_by_one,
            self.args.merged_adapters,
        )
        self.registry = Registry(self.args.path("adapters_dir"), self.args.source_policy())
        # registrations copy files: a pool of their own, so they never wait behind generation
        self.admin_pool = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="registry")
        self.metrics = Metrics()
        self.api = make_api(self)
        self.lock = asyncio.Lock()  # one forward pass at a time per replica; adapter loads change model state
        self.index_dir = self.args.path("index").resolve()
        self.grounded = None  # GroundedSearch over the index version named by CURRENT, reloaded when it moves
        self.head_dir = self.args.parse_cache_dir()
        self.head = None  # the parse cache's live version, followed like the index
        self.warmed = None  # (index version, parse cache version, adapter) whose head queries were retrieved ahead
        self.digests = Digests()  # a cached parse counts only from the weights that wrote it
        self.streams_open = 0
        self._batched.set_max_batch_size(self.args.max_batch_size)
        self._batched.set_batch_wait_timeout_s(self.args.batch_wait(self.engine.one_by_one))

    async def asgi(self, scope: dict, body: bytes):
        """One request from the Gateway, run through this replica's FastAPI app in-process:
        yields the ASGI messages of its answer: the start together with the first body part (one
        streamed item, not two: each item is a trip back to the Gateway), then any further body
        parts one by one. A JSON answer is one item (`Guarded` sends it in one part)."""
        self._follow()
        messages, gone = asyncio.Queue(), asyncio.Event()
        request = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive():
            if request:
                return request.pop()
            await gone.wait()  # the gateway stopped reading: a streaming answer sees the client leave
            return {"type": "http.disconnect"}

        app = asyncio.create_task(self.api(scope, receive, messages.put))
        app.add_done_callback(lambda t: t.cancelled() or t.exception())  # an error after its 500 is already sent

        async def next_message():
            get = asyncio.ensure_future(messages.get())
            await asyncio.wait({get, app}, return_when=asyncio.FIRST_COMPLETED)
            if get.done():
                return get.result()
            get.cancel()
            return None if messages.empty() else messages.get_nowait()

        try:
            start = None
            while (message := await next_message()) is not None:
                if message["type"] == "http.response.start":
                    start = message
                    continue
                yield (start, message) if start else message
                start = None
                if message["type"] == "http.response.body" and not message.get("more_body"):
                    break
        finally:
            gone.set()

    def _follow(self) -> None:
        """At most every `remote_poll_s`, in the background: the index's and parse cache's new
        versions and the registry's new adapters, from object storage into this replica's mirror.
        Requests go on with what is here; a failed look is logged and tried again next time."""
        if not self.remote or self.polling or time.monotonic() < self.polled + self.args.remote_poll_s:
            return
        self.polling = True

        def pull():
            for key, uri in self.remote.items():
                if key == "adapters_dir":
                    download(uri, self.args.path(key), changed_only=True)
                else:
                    follow(uri, self.args.path(key))

        def done(future):
            self.polled, self.polling = time.monotonic(), False
            if future.exception():
                logger.warning("following %s failed: %s", sorted(self.remote.values()), future.exception())

        asyncio.get_running_loop().run_in_executor(self.admin_pool, pull).add_done_callback(done)

    async def admin(self, fn, *args):
        """A registry change in its own pool, bounded in time: 400 for a bad source or id, 409 for
        a trained adapter or a registry in object storage, 504 past `register_timeout_s`."""
        if "adapters_dir" in self.remote:
            raise HTTPException(
                409,
                detail=f"the adapter registry is in object storage ({self.remote['adapters_dir']}), where a version "
                "cannot be published atomically: write adapters there with `skutune train` (serve.adapters_dir); "
                f"replicas take them up within {self.args.remote_poll_s:g} s",
            )
        call = asyncio.get_running_loop().run_in_executor(self.admin_pool, fn, *args)
        try:
            return await asyncio.wait_for(call, self.args.register_timeout_s)
        except Protected as err:
            raise HTTPException(409, detail=str(err)) from err
        except BadAdapter as err:
            raise HTTPException(400, detail=str(err)) from err
        except asyncio.TimeoutError as err:
            raise HTTPException(504, detail=f"registration took over {self.args.register_timeout_s} s") from err

    def region(self, asked: str | None) -> str:
        """The request's region: one of the store profile's (422 otherwise), default its first."""
        if asked is None:
            return next(iter(self.store.regions))
        if asked not in self.store.regions:
            raise HTTPException(
                422, detail=f"region {asked!r:.12} is not one of this store's {sorted(self.store.regions)}"
            )
        return asked

    def check_health(self):  # Serve restarts a replica whose check fails
        if not self.catalog or self.engine.base is None:
            raise RuntimeError("replica lost its model or catalog")

    def _entry(self, ref: str | None, day: dt.date, region: str, grounded: bool = False) -> Entry | None:
        """The registry entry a request is served by (None: the base): an explicit id, else the
        campaign active on `day` in `region`, else the default. 400 for an unsafe id, 404 unknown."""
        if ref == BASE:
            return None
        try:
            entry = self.registry.serving(ref, self.args.default_for(grounded), day, region, campaigns=not grounded)
        except BadAdapter as err:
            raise HTTPException(400, detail=str(err)) from err
        if entry is None:
            known = [BASE] + [e.id for e in self.registry.entries()]
            raise HTTPException(
                404, detail=f"unknown adapter {ref or self.args.default_for(grounded)!r}; available: {known}"
            )
        return entry

    async def _load(self, entry: Entry | None):
        """(the id served, the loaded adapter or None for the base); 422 for one that does not fit."""
        if entry is None:
            return BASE, None
        async with self.lock:
            try:
                return entry.id, await asyncio.to_thread(self.engine.adapter, entry.id, entry.path)
            except AdapterLoadError as err:
                raise HTTPException(422, detail=str(err)) from err

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.02)
    async def _batched(self, jobs: list[GenRequest]):
        self.metrics.batch([j.adapter.id if j.adapter else BASE for j in jobs])
        async with self.lock:
            began = time.perf_counter()
            results = await asyncio.to_thread(self.engine.run, jobs)
        for r in results:
            r.decode_ms = 1000 * (time.perf_counter() - began)
        return results

    async def _run(self, job: GenRequest):
        job.deadline = self._deadline()
        try:
            return await asyncio.wait_for(self._batched(job), self.args.request_timeout_s)
        except asyncio.TimeoutError as err:
            raise HTTPException(504, detail=f"generation took over {self.args.request_timeout_s} s") from err

    def _deadline(self) -> float:
        """When a request's generation stops: with its 504, so a timed-out batch frees the replica."""
        return time.monotonic() + self.args.request_timeout_s

    def _prompt(self, prompt: str) -> str:
        """The prompt, if it fits `max_prompt_tokens` (413 otherwise): 16 long messages fit in the
        body limit yet make a prompt far past the context, padded into every row of its batch."""
        n = len(self.engine.tok(prompt, add_special_tokens=False)["input_ids"])
        if n > self.args.max_prompt_tokens:
            raise HTTPException(
                413, detail=f"the prompt is {n} tokens; this app takes at most {self.args.max_prompt_tokens}"
            )
        return prompt

    def _budget(self, asked: int | None, default: int) -> int:
        if asked is not None and asked > self.args.max_tokens_limit:
            raise HTTPException(
                422, detail=f"max_tokens {asked} is over this app's limit of {self.args.max_tokens_limit}"
            )
        return asked or default

    async def _index(self) -> GroundedSearch:
        """The grounded search over the index's live version; a new version loads in a thread,
        off the event loop that every other request shares."""
        version = current_version(self.index_dir)
        if version is None:
            raise HTTPException(
                503, detail=f"grounded mode needs a catalog index at {self.index_dir}: run jobs/index.py"
            )
        if self.grounded is None or self.grounded.index.dir != version:
            encoder = self.grounded.index.encoder if self.grounded else None
            index = await asyncio.to_thread(CatalogIndex, version, encoder=encoder)
            self.grounded = GroundedSearch(index, self.store)
        return self.grounded

    def _head_and_text(self, entry: Entry, target: str, region: str, day: dt.date, query: str):
        """(the parse cache's live version, its text for this request or None). The adapter's
        digest is taken only against a usable table: without one, nothing hashes its weights."""
        head = ParseCache.live(self.head_dir, self.head, settings(self.args))
        if head is None or not head.usable:
            return head, None
        return head, head.get(entry.id, self.digests.of(entry.path), target, region, day, query)

    async def _cached(
        self, entry: Entry | None, target: str, region: str, day: dt.date, query: str, constrained: bool
    ) -> Result | None:
        """A head query's model output from the live parse cache (parse_cache.py), or None."""
        if entry is None or self.head_dir is None or constrained != self.args.constrained:
            return None
        self.head, text = await asyncio.to_thread(self._head_and_text, entry, target, region, day, query)
        self.metrics.parse_cache.labels(target, "miss" if text is None else "hit").inc()
        return None if text is None else Result(text, 0, 0, "stop")

    def _warm(self, search: GroundedSearch, entry: Entry | None) -> None:
        """Once per index version, parse-cache version and adapter, in the background: retrieval
        for each grounded head query the table holds (GroundedSearch.warm), so their hits skip the
        query's MiniLM pass too. Requests go on meanwhile."""
        key = (search.index.dir, self.head.dir if self.head else None, entry.id if entry else None)
        if entry is None or self.head is None or not self.head.usable or key == self.warmed:
            return
        self.warmed = key

        def done(future):
            if future.exception():
                logger.warning("retrieving the parse cache's head queries ahead failed: %s", future.exception())
            else:
                self.metrics.warmed.set(future.result())

        # most asked first, as the table was written; past the vector cache's size, later ones would evict them
        parses = list(itertools.islice(self.head.parses(entry.id), EMBED_CACHE))
        self.admin_pool.submit(search.warm, parses).add_done_callback(done)

    async def _grounded(
        self,
        search: GroundedSearch,
        req: SearchRequest,
        query: str,
        region: str,
        adapter,
        prompt: str,
        constrained: bool,
        cached: Result | None,
        laps: Laps,
    ) -> dict:
        grammar = self.engine.grammars.get("parse", region) if constrained else None
        result = cached
        if result is None:  # the hint: drafts for a parse decoded alone; BM25 over the catalog, off the event loop
            hint = await asyncio.to_thread(search.hint, query, region)
            laps("hint")
            result = await self._run(GenRequest(prompt, adapter, self.args.parse_max_new_tokens, grammar, hint=hint))
            laps("queue", ("decode", result.decode_ms))
        parse, valid = read_parse(result.text, query, region, self.store)
        if req.rerank:  # the model reorders the candidates: it holds the replica's model
            async with self.lock:
                with self.engine.active(adapter) as model:
                    reranker = Reranker(self.engine.tok, model, self.store)
                    found = await asyncio.to_thread(search.search, query, parse, region, req.k, reranker)
        else:  # retrieval only: never waits behind another request's generation
            found = await asyncio.to_thread(search.search, query, parse, region, req.k)
        laps("retrieve")
        return {**found, "raw": result.text, "parse_valid": valid, "version": search.index.dir.name, "result": result}

    async def _stream(self, job: GenRequest, model: str, adapter_id: str, start: float, req: ChatRequest):
        # a stream holds the model until its deadline at most, and at most max_streams run at once
        job.deadline = self._deadline()
        chunks, pieces = Chunks(model), self.engine.stream(job)
        self.streams_open += 1
        try:
            yield chunks.event({"role": "assistant", "content": ""})
            async with self.lock:
                try:
                    while isinstance(r := await asyncio.to_thread(next, pieces), str):
                        yield chunks.event({"content": r})
                finally:  # a client that leaves early: let generation end before the model is free again
                    await asyncio.to_thread(collections.deque, pieces, 0)
        finally:
            self.streams_open -= 1
        yield chunks.event({}, r.finish_reason)
        if req.stream_options and req.stream_options.include_usage:
            yield chunks.usage(r.prompt_tokens, r.completion_tokens)
        yield chunks.done
        self.metrics.observe("chat_stream", adapter_id, 200, start, r.prompt_tokens, r.completion_tokens)


def replica_threads(asked: int | None) -> int:
    """`threads`, else the CPUs Ray reserved for this replica (its num_cpus): replicas that share a
    node must not each start a thread per core."""
    if asked:
        return asked
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 0) if ray.is_initialized() else 0
    return max(1, int(cpus)) if cpus else os.cpu_count() or 1


def build_app(args: dict) -> serve.Application:
    """The Gateway (gateway.py: 503 + Retry-After for a request whose replica is lost) in front of
    the SearchService replicas, which hold the model."""
    AppArgs.model_validate(args)  # fail at deploy time, naming the bad key, not inside a replica
    return Gateway.bind(SearchService.bind(dict(args)), dict(args))
