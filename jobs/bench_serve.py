"""Serving benchmark on loopback, bounded (a few hundred requests), stopping by itself, on the
embedded model and the adapters of a finished run (`make demo` first).

    python jobs/bench_serve.py                    # runs/demo -> runs/bench_serve/
    python jobs/bench_serve.py --eval-rows 48 --requests 4

Reports (runs/bench_serve/bench_serve.json, and printed):
- constrained decoding on the run's test set, off vs on, for the base model and the search
  adapter: JSON validity, schema match, hallucinated-SKU rate, hit@1 (in process, no HTTP)
- mixed-adapter batching: tokens/s of forward passes over 4 adapters at once (peft
  adapter_names) vs one adapter at a time, for a burst and for steady traffic, and vs one
  request at a time (in process)
- over HTTP (the Serve app, auth on): requests/s and p50/p99 latency at 1, 4 and 16 concurrent
  clients; cached adapter switch latency (alternating vs repeating an adapter) and a cold
  load; replica memory (PSS) with 1 vs 8 adapters loaded; every status seen (the run fails on a 5xx)
- a screenshot of the search page (headless Chromium), base vs the search adapter
"""

import argparse
import json
import secrets
import shutil
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psutil
import requests

from skutune.config import ModelConfig
from skutune.constraints import campaign_families
from skutune.eval.metrics import score_texts
from skutune.generate import render
from skutune.runtime.model_import import resolve_model_dir
from skutune.runtime.paths import load_jsonl, runs_dir
from skutune.serve.engine import GenRequest, ServingEngine
from skutune.serve.registry import Registry
from skutune.serve.sources import SourcePolicy
from skutune.store import StoreProfile, load_store_data

STORE = StoreProfile.model_validate(load_store_data("samsung"))  # the demo store's profile

QUERIES = [
    "samzung fridge",
    "budget phone with good camera",
    "apple ipad alternative",
    "S23 Ultra vs iPhone 15 Pro Max",
    "Diwali TV offers",
    "washing machine for family of 5",
    "galaxy buds price",
    "4k tv under 50000",
]


def pct(values, q) -> float:
    return round(float(np.percentile(values, q)), 1)


def constrained_eval(
    engine: ServingEngine, registry: Registry, examples: list[dict], catalog: dict, batch: int, max_new_tokens: int
) -> dict:
    out = {}
    for system, adapter_id in (("base", None), ("search", "search")):
        entry = registry.resolve(adapter_id) if adapter_id else None
        adapter = engine.adapter(entry.id, entry.path) if entry else None
        for constrained in (False, True):
            start, results = time.time(), []
            for i in range(0, len(examples), batch):
                rows = examples[i : i + batch]
                jobs = [
                    GenRequest(
                        render(engine.tok, e["query"], e["region"], e["date"], STORE),
                        adapter,
                        max_new_tokens,
                        engine.grammars.get(e["task"], e["region"]) if constrained else None,
                    )
                    for e in rows
                ]
                results += engine.run(jobs)
            summary, _ = score_texts(examples, [r.text for r in results], catalog, campaign_families(STORE))
            key = f"{system}, constrained {'on' if constrained else 'off'}"
            out[key] = {
                m: round(summary[m], 3) for m in ("json_valid", "schema_match", "hallucinated_sku_rate", "hit_at_1")
            }
            out[key]["out_of_tokens"] = round(sum(r.finish_reason == "length" for r in results) / len(results), 3)
            out[key]["s_per_query"] = round((time.time() - start) / len(examples), 2)
            print(f"  {key:28s} {out[key]}", flush=True)
    return out


def mixed_vs_sequential(
    engine: ServingEngine, registry: Registry, names: list[str], n: int, max_new_tokens: int
) -> dict:
    """Two arrival patterns over the same 4 adapters (copies of one trained adapter, so every
    row answers at about the same length and padding does not decide the result):
    - mixed: passes of 8 with 2 rows per adapter (what @serve.batch forms from any arrivals);
    - burst, one adapter at a time: the same 8 arrivals served per adapter, 4 passes of 2;
    - steady, one adapter at a time: enough traffic that each adapter fills a pass of 8 alone.
    """
    adapters = [engine.adapter(e.id, e.path) for e in map(registry.resolve, names)]
    jobs = [
        GenRequest(
            render(engine.tok, QUERIES[i % len(QUERIES)], "IN", "2026-10-25", STORE),
            adapters[i % len(adapters)],
            max_new_tokens,
        )
        for i in range(n)
    ]
    batch = 2 * len(adapters)
    bursts = [jobs[i : i + batch] for i in range(0, n, batch)]
    plans = {
        "mixed: every pass holds all 4 adapters": bursts,
        "burst, one adapter at a time": [[j for j in b if j.adapter is a] for b in bursts for a in adapters],
        "steady, one adapter at a time": [
            group[i : i + batch]
            for a in adapters
            for group in [[j for j in jobs if j.adapter is a]]
            for i in range(0, len(group), batch)
        ],
        "one request at a time": [[j] for j in jobs],
    }
    out = {}
    engine.run(jobs[:batch])  # warm-up
    for plan, batches in plans.items():
        start = time.time()
        tokens = sum(r.completion_tokens for b in batches for r in engine.run(b))
        seconds = time.time() - start
        out[plan] = {
            "passes": len(batches),
            "tokens": tokens,
            "seconds": round(seconds, 1),
            "tokens_per_s": round(tokens / seconds, 1),
        }
        print(f"  {plan:48s} {out[plan]}", flush=True)
    return out


class Client:
    def __init__(self, url: str, token: str):
        self.url, self.http, self.statuses = url, requests.Session(), {}
        self.http.headers["Authorization"] = f"Bearer {token}"

    def search(self, query: str, adapter: str, max_wait: float = 300) -> float:
        start = time.time()
        r = self.http.post(
            f"{self.url}/v1/search",
            json={"query": query, "region": "IN", "date": "2026-10-25", "adapter": adapter},
            timeout=max_wait,
        )
        self.statuses[r.status_code] = self.statuses.get(r.status_code, 0) + 1
        return 1000 * (time.time() - start)


def load_levels(client: Client, names: list[str], levels: list[int], per_client: int) -> dict:
    out = {}
    for clients in levels:
        work = [(QUERIES[i % len(QUERIES)], names[i % len(names)]) for i in range(clients * per_client)]
        start = time.time()
        with ThreadPoolExecutor(clients) as pool:
            latencies = list(pool.map(lambda w: client.search(*w), work))
        wall = time.time() - start
        out[clients] = {
            "requests": len(work),
            "req_per_s": round(len(work) / wall, 2),
            "p50_ms": pct(latencies, 50),
            "p99_ms": pct(latencies, 99),
        }
        print(f"  {clients:2d} clients: {out[clients]}", flush=True)
    return out


def switch_latency(client: Client, a: str, b: str, n: int) -> dict:
    for name in (a, b):
        client.search("tv", name)
    same = [client.search(QUERIES[i % 4], a) for i in range(n)]
    alternating = [client.search(QUERIES[i % 4], (a, b)[i % 2]) for i in range(n)]
    return {
        "same_adapter_p50_ms": pct(same, 50),
        "alternating_p50_ms": pct(alternating, 50),
        "switch_cost_ms": round(statistics.median(alternating) - statistics.median(same), 1),
    }


def replica_pss_gib() -> float:
    pss = [
        p.memory_full_info().pss
        for p in psutil.process_iter(["cmdline"])
        if "ServeReplica" in " ".join(p.info["cmdline"] or [])
    ]
    return round(sum(pss) / 2**30, 3)


def screenshot(url: str, token: str, path: Path) -> str:
    chromium = shutil.which("chromium")
    if chromium is None:
        return "skipped: no chromium (make browser)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 760})
        page.goto(url)
        page.fill("#token", token)
        page.dispatch_event("#token", "change")
        page.wait_for_function("document.querySelector('#right').options.length > 1")
        page.fill("#query", "samsung fridge under ₹60,000")
        page.select_option("#left", "base")
        page.select_option("#right", "search")
        page.click("#go")
        page.wait_for_function(
            "[...document.querySelectorAll('.meta')].filter(e => e.textContent.includes(' ms')).length == 2",
            timeout=300_000,
        )
        page.screenshot(path=str(path), full_page=True)
        browser.close()
    return str(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="runs/demo", help="a finished run: adapters/, data/catalog.jsonl, data/test.jsonl")
    ap.add_argument("--out", default=str(runs_dir() / "bench_serve"))
    ap.add_argument("--eval-rows", type=int, default=120, help="test rows for constrained decoding off/on (0: skip)")
    ap.add_argument("--eval-max-tokens", type=int, default=96)
    ap.add_argument("--mixed-requests", type=int, default=32)
    ap.add_argument("--requests", type=int, default=4, help="requests per client at each concurrency level")
    ap.add_argument("--levels", default="1,4,16")
    ap.add_argument("--port", type=int, default=8123)
    args = ap.parse_args()
    run, out = Path(args.run).resolve(), Path(args.out).resolve()
    if out.exists():
        shutil.rmtree(out)
    (out / "adapters").mkdir(parents=True)
    for name in ("search", "understand"):
        shutil.copytree(run / "adapters" / name, out / "adapters" / name)
    registry = Registry(out / "adapters", SourcePolicy((str(run),)))
    for i in range(1, 7):  # 8 adapters in all: six more registered copies of the trained two
        registry.register(f"copy{i}", str(run / "adapters" / ("search", "understand")[i % 2]))
    names = [e.name for e in registry.entries()]
    catalog = {r["sku"]: r for r in load_jsonl(run / "data" / "catalog.jsonl")}
    model_dir = resolve_model_dir(ModelConfig(path="embedded"))
    report = {"model": str(model_dir), "run": str(run), "cpus": psutil.cpu_count()}

    engine = ServingEngine(model_dir, catalog, STORE, max_loaded=8)
    if args.eval_rows:
        print(f"== constrained decoding on {args.eval_rows} test rows", flush=True)
        examples = load_jsonl(run / "data" / "test.jsonl")[: args.eval_rows]
        report["constrained_eval"] = constrained_eval(engine, registry, examples, catalog, 24, args.eval_max_tokens)
    print(f"== mixed-adapter batching, {args.mixed_requests} requests over 4 adapters", flush=True)
    same_length = ["search"] + [e.name for e in registry.entries() if e.meta.get("source", "").endswith("/search")][:3]
    report["mixed_batching"] = mixed_vs_sequential(engine, registry, same_length, args.mixed_requests, 24)
    del engine

    from ray import serve

    from skutune.runtime.cluster import init_ray
    from skutune.serve.app import build_app

    token = secrets.token_hex(16)
    (out / "token").write_text(token)
    init_ray()
    serve.start(http_options={"host": "127.0.0.1", "port": args.port})
    serve.run(
        build_app(
            {
                "model": "embedded",
                "adapters_dir": str(out / "adapters"),
                "catalog": str(run / "data" / "catalog.jsonl"),
                "index": str(run / "index"),
                "max_new_tokens": 32,
                "auth_token_file": str(out / "token"),
            }
        ),
        name="bench",
        route_prefix="/",
    )
    url = f"http://127.0.0.1:{args.port}"
    client = Client(url, token)
    try:
        client.search("tv", "search")
        report["replica_pss_gib"] = {"1 adapter": replica_pss_gib()}
        start = time.time()
        client.search("tv", "copy1")
        report["cold_load_ms"] = round(1000 * (time.time() - start), 1)
        for name in names:
            client.search("tv", name)
        report["replica_pss_gib"]["8 adapters"] = replica_pss_gib()
        print(
            f"== replica memory {report['replica_pss_gib']}, cold adapter load + answer {report['cold_load_ms']} ms",
            flush=True,
        )
        report["switch"] = switch_latency(client, "search", "copy2", 8)
        print(f"== adapter switch {report['switch']}", flush=True)
        print("== load, /v1/search closed-book constrained, adapters mixed", flush=True)
        report["load"] = load_levels(client, names[:4], [int(x) for x in args.levels.split(",")], args.requests)
        report["screenshot"] = screenshot(url, token, out / "search_page.png")
        report["metrics_sample"] = [
            line
            for line in client.http.get(f"{url}/metrics", timeout=30).text.splitlines()
            if line.startswith("skutune_requests_total")
        ][:6]
    finally:
        serve.shutdown()
    report["statuses"] = client.statuses
    (out / "bench_serve.json").write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps({k: report[k] for k in ("statuses", "screenshot")}), flush=True)
    if any(int(s) >= 500 for s in client.statuses):
        raise SystemExit(f"5xx responses: {client.statuses}")


if __name__ == "__main__":
    main()
