"""Serve under faults: clients keep a two-replica app busy over loopback while one SearchService
replica process is killed (SIGKILL). Serve starts a new one; clients see only 200s, or 503s with
Retry-After and a JSON body for the requests the dead replica held (gateway.py), never a 500, and
no request outlives its timeout."""

import collections
import json
import os
import signal
import threading
import time

import psutil
import requests

from helpers import TOKEN

APP = "skutune-faults"
CLIENTS, SECONDS, CLIENT_TIMEOUT_S = 6, 10, 60


def _replica_pids() -> list[int]:
    return [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if any(APP in part and "SearchService" in part for part in (p.info["cmdline"] or []))
    ]


def _running_replicas() -> int:
    from ray import serve

    status = serve.status().applications.get(APP)
    return status.deployments["SearchService"].replica_states.get("RUNNING", 0) if status else 0


def test_killed_replica_gives_503_with_retry_hint_never_500(app, tiny_model_dir):
    from ray import serve

    from skutune.serve.app import SearchService
    from skutune.serve.gateway import Gateway

    args = {
        "model": str(tiny_model_dir),
        "adapters_dir": str(app.dir / "adapters"),
        "catalog": str(app.dir / "catalog.jsonl"),
        "index": str(app.dir / "index"),
        "store": str(app.dir / "store.yaml"),
        "default_adapter": "typo",
        "max_new_tokens": 12,
        "request_timeout_s": 50,  # under CLIENT_TIMEOUT_S; a slow 2-core machine queued the burst past 30 s (504)
        "auth_token_file": str(app.dir / "token"),
        "threads": 1,
        "retry_after_s": 3,
    }
    service = SearchService.options(num_replicas=2, ray_actor_options={"num_cpus": 0.1})
    serve.run(Gateway.bind(service.bind(args), args), name=APP, route_prefix="/faults")
    try:
        before = _replica_pids()
        assert len(before) == 2, before
        results, stop = [], threading.Event()

        def send(path: str, body: dict):
            start = time.time()
            try:
                r = requests.post(
                    f"{app}/faults{path}",
                    json=body,
                    headers={"Authorization": f"Bearer {TOKEN}"},
                    timeout=CLIENT_TIMEOUT_S,
                )
                results.append((r.status_code, r.headers.get("retry-after"), r.text, time.time() - start))
            except requests.RequestException as err:  # a hang past the timeout, or a dropped connection
                results.append((type(err).__name__, None, str(err), time.time() - start))

        def client(i: int):
            while not stop.is_set():
                send("/v1/search", {"query": f"samzung fridge {i}", "region": "IN"})

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        while sum(r[0] == 200 for r in results) < CLIENTS:  # both replicas are answering
            time.sleep(0.2)
        # Short searches leave a replica idle between batches: a burst of long answers makes sure the
        # one killed holds requests (queued behind its lock), and those must come back as 503s.
        long = {"model": "smollm2-135m", "messages": [{"role": "user", "content": "tv"}], "max_tokens": 128}
        burst = [
            threading.Thread(target=send, args=("/v1/chat/completions", {**long, "constrained": False}))
            for _ in range(24)
        ]
        for t in burst:
            t.start()
        time.sleep(0.5)
        os.kill(before[0], signal.SIGKILL)
        time.sleep(SECONDS)
        stop.set()
        for t in threads + burst:
            t.join(CLIENT_TIMEOUT_S + 5)

        counts = collections.Counter(r[0] for r in results)
        print(f"\nstatuses under a killed replica: {dict(counts)}")
        assert set(counts) <= {200, 503}, [r for r in results if r[0] not in (200, 503)][:3]
        assert counts[200] > CLIENTS and counts[503] >= 1  # the killed replica held requests: they got 503
        for status, retry_after, text, seconds in results:
            assert seconds < CLIENT_TIMEOUT_S
            if status == 503:
                assert retry_after == "3" and "retry" in json.loads(text)["detail"]

        deadline = time.time() + 120  # Serve replaces the dead replica
        while (_running_replicas() < 2 or before[0] in _replica_pids()) and time.time() < deadline:
            time.sleep(1)
        assert _running_replicas() == 2 and before[0] not in _replica_pids()
        r = app.http.post(f"{app}/faults/v1/search", json={"query": "tv", "region": "US"}, timeout=CLIENT_TIMEOUT_S)
        assert r.status_code == 200
    finally:
        serve.delete(APP)
