"""Head queries over HTTP: a Zipf-shaped stream of the run's own log queries against the Serve app,
without and with the parse cache (`skutune parse-cache`), grounded and closed-book, at 1, 4 and 16
clients. A finished run first (`make demo`).

    python jobs/bench_parse_cache.py                         # runs/demo -> runs/bench_parse_cache/
    python jobs/bench_parse_cache.py --top 100 --requests 4 --levels 1,4

The stream: the log's distinct (region, query) pairs ranked by how often they were asked, the
pair of rank r drawn with probability proportional to 1/r^s (--zipf-s). "cache off" is the app as
it was before the cache (every request decodes); "cache on" after the batch job wrote the table
for the --top most frequent pairs, first --hit-requests requests for cached pairs alone from one
client (a hit's latency, not diluted by the stream's misses), then the stream. One replica, with
--threads torch threads if given. Reports hit rate, p50/p99 of all requests, of hits and of
misses, the route's own latency in the replica, and requests/s
(runs/bench_parse_cache/bench_parse_cache.json, and printed).
"""

import argparse
import datetime as dt
import json
import secrets
import shutil
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests

from skutune.runtime.paths import load_jsonl, runs_dir

MODES = ("grounded", "closed_book")


def pct(values, q) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def ranked_queries(run: Path) -> tuple[Path, list[tuple[tuple[str, str], int]]]:
    """The run's query log, and its valid rows as distinct (region, normalised query) pairs, most
    asked first (counted by the parse-cache job's own Ray Data pass)."""
    from skutune.serve.args import AppArgs
    from skutune.serve.parse_cache import head_queries

    log = json.loads((run / "data" / "manifest.json").read_text())["sources"]["log"]
    if not log:
        raise SystemExit(f"{run} was curated without a query log: nothing to replay")
    app = AppArgs(run_dir=str(run))
    skus = {r["sku"] for r in load_jsonl(app.path("catalog"))}
    counts = head_queries(Path(log), {}, skus, list(app.store_profile().regions), 1_000_000)
    return Path(log), [((r, q), int(n)) for r, q, n in zip(counts["region"], counts["query"], counts["count"])]


def zipf_stream(ranked: list, n: int, s: float, seed: int) -> list[tuple[str, str]]:
    weights = 1.0 / np.arange(1, len(ranked) + 1) ** s
    picks = np.random.default_rng(seed).choice(len(ranked), size=n, p=weights / weights.sum())
    return [ranked[i][0] for i in picks]


def replay(url: str, token: str, mode: str, stream: list, clients: int) -> dict:
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"

    def one(pair):
        region, query = pair
        start = time.time()
        r = http.post(f"{url}/v1/search", json={"query": query, "region": region, "mode": mode}, timeout=600)
        ms = 1000 * (time.time() - start)
        body = r.json() if r.status_code == 200 else {}
        return ms, r.status_code, body.get("parse_cache"), body.get("latency_ms"), body.get("stages_ms") or {}

    start = time.time()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, stream))
    wall = time.time() - start
    hits = [ms for ms, _, c, *_ in results if c == "hit"]
    misses = [ms for ms, _, c, *_ in results if c != "hit"]
    stages = [st for _, _, c, _, st in results if c != "hit" and st]
    return {
        "requests": len(results),
        "statuses": dict(Counter(str(s) for _, s, *_ in results)),
        "hit_rate": round(len(hits) / len(results), 3),
        "req_per_s": round(len(results) / wall, 2),
        "p50_ms": pct([ms for ms, *_ in results], 50),
        "p99_ms": pct([ms for ms, *_ in results], 99),
        "hit_p50_ms": pct(hits, 50),
        "miss_p50_ms": pct(misses, 50),
        "in_replica_p50_ms": pct([s for *_, s, _ in results if s is not None], 50),  # the route's own latency_ms
        # where a miss's time goes in the replica: each stage's p50 of the route's stages_ms
        "miss_stages_p50_ms": {k: pct([st[k] for st in stages if k in st], 50) for k in (stages[0] if stages else {})},
    }


def wait_for_warm(url: str, token: str, limit_s: float = 120) -> None:
    """Until the replica has retrieved the table's grounded head queries ahead (once per version,
    in the background), as it will have long before a live table's traffic builds up."""
    deadline = time.time() + limit_s
    while time.time() < deadline:
        text = requests.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30).text
        if any(
            line.startswith("skutune_parse_cache_warmed ") and float(line.split()[1]) > 0 for line in text.splitlines()
        ):
            return
        time.sleep(0.5)
    print("the head queries were not retrieved ahead within", limit_s, "s", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="runs/demo", help="a finished run: adapters/, index/, data/ with a query log")
    ap.add_argument("--out", default=str(runs_dir() / "bench_parse_cache"))
    ap.add_argument("--top", type=int, default=200, help="head queries the cache answers ahead of time")
    ap.add_argument("--requests", type=int, default=8, help="requests per client at each level")
    ap.add_argument("--levels", default="1,4,16")
    ap.add_argument("--zipf-s", type=float, default=1.1, help="Zipf exponent of the replayed stream")
    ap.add_argument("--port", type=int, default=8124)
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads of the replica; default the app's (its num_cpus, 1). On 2 cores, 2 threads were slower",
    )
    ap.add_argument(
        "--one-by-one",
        type=int,
        default=None,
        help="the app's one_by_one: a gathered batch up to this size decodes a request at a time, speculatively",
    )
    ap.add_argument("--misses-only", action="store_true", help="skip the cache-on phase (no table is built)")
    ap.add_argument(
        "--hit-requests",
        type=int,
        default=60,
        help="with the cache on, this many requests for cached head queries from 1 client: the hit latency alone",
    )
    args = ap.parse_args()
    run, out = Path(args.run).resolve(), Path(args.out).resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    from ray import serve

    from skutune.runtime.cluster import init_ray
    from skutune.serve.app import build_app
    from skutune.serve.parse_cache import build_parse_cache

    init_ray()
    log, ranked = ranked_queries(run)
    levels = [int(x) for x in args.levels.split(",")]
    streams = {c: zipf_stream(ranked, c * args.requests, args.zipf_s, seed=c) for c in levels}
    in_top = {pair for pair, _ in ranked[: args.top]}
    report = {
        "run": str(run),
        "distinct_queries": len(ranked),
        "log_rows": sum(n for _, n in ranked),
        "top": args.top,
        "replica_threads": args.threads,
        "one_by_one": args.one_by_one,
        "log_share_of_top": round(sum(n for _, n in ranked[: args.top]) / max(1, sum(n for _, n in ranked)), 3),
        "stream_share_in_top": round(
            sum(p in in_top for s in streams.values() for p in s) / sum(map(len, streams.values())), 3
        ),
    }
    print(json.dumps(report), flush=True)

    token = secrets.token_hex(16)
    (out / "token").write_text(token)
    app_args = {
        "model": "embedded",
        "run_dir": str(run),
        "parse_cache": str(out / "parse_cache"),
        "auth_token_file": str(out / "token"),
        **({"threads": args.threads} if args.threads else {}),
        **({"one_by_one": args.one_by_one} if args.one_by_one else {}),
    }
    serve.start(http_options={"host": "127.0.0.1", "port": args.port})
    serve.run(build_app(app_args), name="bench", route_prefix="/")
    url = f"http://127.0.0.1:{args.port}"
    try:
        for mode in MODES:  # warm: adapters loaded, grammars compiled, index read
            replay(url, token, mode, [ranked[0][0]], 1)
        for phase in ("cache off",) if args.misses_only else ("cache off", "cache on"):
            if phase == "cache on":
                start = time.time()
                report["build"] = build_parse_cache(app_args, log, {}, args.top, dt.date.today())
                report["build"]["wall_s"] = round(time.time() - start, 1)
                print(f"== parse cache built: {report['build']}", flush=True)
                head = [pair for pair, _ in ranked[: args.top]]
                for mode in MODES:  # one pass over a few loads the table; grounded also retrieves its head ahead
                    replay(url, token, mode, head[:5], 1)
                wait_for_warm(url, token)
                for mode in MODES:  # hits alone
                    row = replay(url, token, mode, (head * args.hit_requests)[: args.hit_requests], 1)
                    report.setdefault("cache on, hits only", {})[mode] = row
                    print(f"  cache on, hits only, {mode}, 1 client: {row}", flush=True)
            for mode in MODES:
                for clients in levels:
                    row = replay(url, token, mode, streams[clients], clients)
                    report.setdefault(phase, {}).setdefault(mode, {})[clients] = row
                    print(f"  {phase}, {mode}, {clients:2d} clients: {row}", flush=True)
    finally:
        serve.shutdown()
    phases = [p for p in ("cache off", "cache on") if p in report]
    for mode in MODES if "cache on" in report else ():
        top = max(levels)
        off, on = report["cache off"][mode][top]["req_per_s"], report["cache on"][mode][top]["req_per_s"]
        report.setdefault("speedup_req_per_s", {})[mode] = round(on / off, 1) if off else None
    (out / "bench_parse_cache.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({"speedup_req_per_s": report.get("speedup_req_per_s")}), flush=True)
    bad = [s for p in phases for m in MODES for r in report[p][m].values() for s in r["statuses"]]
    if any(int(s) >= 500 for s in bad):
        raise SystemExit(f"5xx responses: {bad}")


if __name__ == "__main__":
    main()
