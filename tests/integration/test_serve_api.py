"""The production surface of the Serve app, over real HTTP: the OpenAI-compatible routes through
the `openai` client, the adapter registry (versions, LRU, safety), campaigns, constrained
decoding, mixed-adapter batching, auth, limits and metrics."""

import json
import re
import shutil
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
import requests

from helpers import TOKEN
from skutune.demo.catalog import build_catalog
from skutune.schemas import is_valid, parse_answer

CATALOG = {r["sku"]: r for r in build_catalog()}


@pytest.fixture(scope="module")
def client(app):
    return openai.OpenAI(base_url=f"{app}/v1", api_key=TOKEN, max_retries=0, timeout=120)


def _chat(client, model, query="samzung fridg", max_tokens=64, **extra):
    return client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": query}],
        max_tokens=max_tokens,
        extra_body={"region": "IN", "date": "2026-10-25", **extra},
    )


def test_openai_client_models_chat_and_stream(app, client):
    ids = [m.id for m in client.models.list()]
    assert "tiny" in ids and "tiny:typo" in ids and "tiny:seasonal" in ids
    for model in (
        "tiny:typo",
        "tiny:seasonal",
        "tiny:base",
    ):  # LoRA in the shared base, prefix model of its own, the base
        done = _chat(client, model)
        assert done.model == model and done.choices[0].finish_reason in ("stop", "length")
        assert done.usage.completion_tokens > 0 and done.usage.prompt_tokens > 10
        stream = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "samzung fridg"}],
            max_tokens=64,
            stream=True,
            stream_options={"include_usage": True},
            extra_body={"region": "IN", "date": "2026-10-25"},
        )
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == done.choices[0].message.content  # greedy: streamed and whole answers agree
        assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1 or model == "tiny:seasonal"
        assert chunks[-1].usage.completion_tokens == done.usage.completion_tokens


def test_constrained_answers_are_valid_json_with_real_region_skus(app, client):
    """The tiny model is random: free decoding is never valid JSON; constrained always is, and
    names only SKUs sold in the asked region."""
    queries = ["samzung fridg", "budget phone with good camera", "Diwali TV offers", "washing machine for 5"]
    for region in ("IN", "EU", "US"):
        for q in queries:
            free = _chat(client, "tiny:typo", q, region=region, constrained=False).choices[0].message.content
            assert not is_valid(parse_answer(free), "search")
            out = _chat(client, "tiny:typo", q, region=region).choices[0]
            answer = parse_answer(out.message.content)
            assert out.finish_reason == "stop" and is_valid(answer, "search"), out.message.content
            assert all(sku in CATALOG and region in CATALOG[sku]["regions"] for sku in answer["skus"])
    # a random model fills the QA schema to its bounds (120 answer characters, 5 SKUs): the most the app allows
    qa = _chat(client, "tiny:typo", "does the fridge have a water dispenser?", 96, task="qa").choices[0]
    assert qa.finish_reason == "stop" and is_valid(parse_answer(qa.message.content), "qa"), qa.message.content


def test_registry_versions_never_serve_stale_weights(app, client):
    first = app.admin.post(
        f"{app}/v1/adapters", json={"name": "hot", "source": str(app.dir / "adapters" / "typo")}, timeout=60
    )
    assert first.status_code == 201 and first.json()["id"] == "hot@1"
    answer = {}
    answer["hot@1"] = _chat(client, "tiny:hot", constrained=False).choices[0].message.content
    assert answer["hot@1"] == _chat(client, "tiny:typo", constrained=False).choices[0].message.content
    second = app.admin.post(
        f"{app}/v1/adapters",
        json={"name": "hot", "source": f"file://{app.dir / 'adapters' / 'comparison'}"},
        timeout=60,
    )
    assert second.json()["id"] == "hot@2"
    answer["hot"] = (
        _chat(client, "tiny:hot", constrained=False).choices[0].message.content
    )  # the name means its latest version now
    assert (
        answer["hot"] != answer["hot@1"]
        and answer["hot"] == _chat(client, "tiny:comparison", constrained=False).choices[0].message.content
    )
    assert _chat(client, "tiny:hot@1", constrained=False).choices[0].message.content == answer["hot@1"]
    assert app.admin.delete(f"{app}/v1/adapters/hot@1", timeout=30).json() == {"deleted": ["hot@1"]}
    with pytest.raises(openai.NotFoundError):
        _chat(client, "tiny:hot@1")
    assert app.admin.delete(f"{app}/v1/adapters/hot", timeout=30).json() == {"deleted": ["hot@2"]}
    assert app.admin.delete(f"{app}/v1/adapters/hot", timeout=30).status_code == 404


def test_lru_evicts_past_the_limit_and_reloads_on_demand(app, client):
    before = _chat(client, "tiny:typo", constrained=False).choices[0].message.content
    for model in ("tiny:comparison", "tiny:regional", "tiny:seasonal", "tiny:base", "tiny:comparison"):
        _chat(client, model, constrained=False)
    listing = app.http.get(f"{app}/v1/adapters", timeout=30).json()
    assert len(listing["loaded_in_this_replica"]) <= listing["max_loaded"] == 4
    assert _chat(client, "tiny:typo", constrained=False).choices[0].message.content == before


def test_registry_refuses_pickles_paths_and_non_adapters(app, tmp_path):
    pickled = tmp_path / "pickled"
    shutil.copytree(app.dir / "adapters" / "typo", pickled)
    (pickled / "adapter_model.bin").write_bytes(b"not loaded")
    cases = [
        ({"name": "x", "source": str(pickled)}, "pickled weights"),
        ({"name": "../x", "source": str(pickled)}, "bad adapter name"),
        ({"name": "x", "source": "relative/dir"}, "absolute path"),
        ({"name": "x", "source": str(tmp_path)}, "not an adapter"),
        ({"name": "x", "source": str(tmp_path / "missing")}, "cannot read"),
    ]
    for body, reason in cases:
        r = app.admin.post(f"{app}/v1/adapters", json=body, timeout=30)
        assert r.status_code == 400 and reason in r.json()["detail"], (body, r.text)
    assert app.admin.delete(f"{app}/v1/adapters/a..b", timeout=30).status_code == 400


def test_campaign_adapter_is_chosen_by_date_and_region(app):
    r = app.admin.post(
        f"{app}/v1/adapters",
        json={
            "name": "diwali-tv",
            "source": str(app.dir / "adapters" / "seasonal"),
            "valid_from": "2026-10-15",
            "valid_to": "2026-11-05",
            "regions": ["IN"],
        },
        timeout=60,
    )
    assert r.status_code == 201, r.text
    try:

        def served(date, region):
            out = app.http.post(f"{app}/v1/search", json={"query": "tv", "date": date, "region": region}, timeout=120)
            assert out.status_code == 200, out.text
            return out.json()["adapter"]

        assert served("2026-10-25", "IN") == "diwali-tv@1"
        assert served("2026-10-25", "US") == "comparison"  # another region: the general adapter
        assert served("2026-12-01", "IN") == "comparison"  # after the campaign
        bad = app.admin.post(
            f"{app}/v1/adapters",
            json={"name": "y", "source": "/x", "valid_from": "2026-12-01", "valid_to": "2026-11-01"},
            timeout=30,
        )
        assert bad.status_code == 422
    finally:
        app.admin.delete(f"{app}/v1/adapters/diwali-tv", timeout=30)


def _metric(text: str, name: str, **labels) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return sum(
        float(v)
        for lab, v in re.findall(rf"^{name}(?:\{{([^}}]*)\}})? (\S+)$", text, re.M)
        if all(p in lab for p in want.split(","))
    )


def test_mixed_adapter_requests_share_a_batch_and_match_metrics(app, client):
    models = ["tiny:typo", "tiny:comparison", "tiny:base"] * 4
    # on a CPU a pass does not wait to fill (batch_wait 0): requests gather only while an earlier
    # pass runs, so on a slow machine one round can trickle in one by one; a few rounds must mix
    for _ in range(5):
        with ThreadPoolExecutor(len(models)) as pool:
            outs = list(pool.map(lambda m: _chat(client, m, constrained=False), models))
        assert all(o.choices[0].message.content for o in outs)
        text = app.http.get(f"{app}/metrics", timeout=30).text
        assert _metric(text, "skutune_batch_adapters_count") > 0
        if _metric(text, "skutune_batch_adapters_bucket", le="1.0") < _metric(text, "skutune_batch_adapters_count"):
            break  # >1 adapter in a pass
    else:
        pytest.fail("no pass held requests for more than one adapter in 5 rounds of 12 concurrent requests")
    assert _metric(text, "skutune_requests_total", route="chat", adapter="typo", status="200") >= 4
    assert _metric(text, "skutune_tokens_total", adapter="typo", kind="completion") > 0
    assert _metric(text, "skutune_request_latency_seconds_count", route="chat", adapter="comparison") >= 4


@pytest.mark.parametrize(
    "case",
    [
        "no token",
        "wrong token",
        "oversize",
        "chunked",
        "too many tokens",
        "bad schema",
        "unknown model",
        "unknown adapter",
        "traversal",
    ],
)
def test_bad_requests_get_json_4xx(app, case):
    url, body, headers = (
        f"{app}/v1/chat/completions",
        {"model": "tiny:typo", "messages": [{"role": "user", "content": "tv"}]},
        {},
    )
    status = {
        "no token": 401,
        "wrong token": 401,
        "oversize": 413,
        "chunked": 411,
        "too many tokens": 422,
        "bad schema": 422,
        "unknown model": 404,
        "unknown adapter": 404,
        "traversal": 400,
    }[case]
    http = requests if case in ("no token", "wrong token") else app.http
    headers = {"Authorization": "Bearer nope"} if case == "wrong token" else {}
    data = None
    if case == "oversize":
        body["messages"][0]["content"] = "x" * 3000
        body["messages"] *= 8
    elif case == "chunked":
        data, body = iter([json.dumps(body).encode()]), None
    elif case == "too many tokens":
        body["max_tokens"] = 97
    elif case == "bad schema":
        body["messages"] = [{"role": "robot", "content": 3}]
    elif case == "unknown model":
        body["model"] = "gpt-4o"
    elif case == "unknown adapter":
        body["model"] = "tiny:nope"
    elif case == "traversal":
        body["model"] = "tiny:../../etc"
    r = http.post(url, json=body, data=data, headers={"content-type": "application/json", **headers}, timeout=60)
    assert r.status_code == status and "detail" in r.json(), r.text
    if status == 401:
        assert r.headers["www-authenticate"] == "Bearer"
    assert requests.get(f"{app}/healthz", timeout=30).status_code == 200  # probes need no token


def test_prompt_token_limit_is_413_json_inside_the_body_limit(app):
    # 4 messages of 3,000 characters: 12 kB, under the 16 kB body limit, but ~2,500 tokens of prompt
    words = " ".join(f"fridge{i % 97} tv{i % 13}" for i in range(300))[:3000]
    messages = [{"role": "system", "content": "Be brief."}] + [{"role": "user", "content": words}] * 4
    body = {"model": "tiny:typo", "messages": messages}
    assert len(json.dumps(body)) < 16384
    r = app.http.post(f"{app}/v1/chat/completions", json=body, timeout=60)
    assert r.status_code == 413 and "at most 512" in r.json()["detail"], r.text
    ok = {"model": "tiny:typo", "messages": [{"role": "user", "content": "tv"}], "max_tokens": 4}
    assert app.http.post(f"{app}/v1/chat/completions", json=ok, timeout=60).status_code == 200


def test_generation_past_the_timeout_is_504_json_and_no_token_means_open(app, tiny_model_dir):
    """A second app on the same cluster: a timeout no generation can meet, and no token configured."""
    from ray import serve

    from skutune.serve.app import build_app

    serve.run(
        build_app(
            {
                "model": str(tiny_model_dir),
                "adapters_dir": str(app.dir / "adapters"),
                "catalog": str(app.dir / "catalog.jsonl"),
                "index": str(app.dir / "index"),
                "store": str(app.dir / "store.yaml"),
                "default_adapter": "typo",
                "request_timeout_s": 0.001,
                "auth_token_env": "SKUTUNE_TEST_UNSET_TOKEN",
                "threads": 1,
            }
        ),
        name="skutune-strict",
        route_prefix="/strict",
    )
    try:
        r = requests.post(f"{app}/strict/v1/search", json={"query": "tv"}, timeout=60)
        assert r.status_code == 504 and "generation took over" in r.json()["detail"]
        assert requests.get(f"{app}/strict/v1/models", timeout=30).status_code == 200  # no token configured: open
        assert (
            'skutune_http_responses_total{route="/v1/search",status="504"} 1.0'
            in requests.get(f"{app}/strict/metrics", timeout=30).text
        )
    finally:
        serve.delete("skutune-strict")


def test_a_client_leaving_a_stream_early_leaves_the_replica_serving(app, client):
    body = {
        "model": "tiny:typo",
        "messages": [{"role": "user", "content": "samzung fridg"}],
        "max_tokens": 64,
        "stream": True,
        "constrained": False,
        "region": "IN",
        "date": "2026-10-25",
    }
    with app.http.post(f"{app}/v1/chat/completions", json=body, stream=True, timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        first = next(r.iter_lines())
        assert first.startswith(b"data: ") and json.loads(first[6:])["choices"][0]["delta"]["role"] == "assistant"
    whole = _chat(client, "tiny:typo", constrained=False)
    assert whole.choices[0].message.content and whole.usage.completion_tokens > 0


def test_metrics_and_docs_take_the_token(app):
    for path in ("/metrics", "/docs", "/openapi.json"):
        assert requests.get(f"{app}{path}", timeout=30).status_code == 401
        assert app.http.get(f"{app}{path}", timeout=30).status_code == 200
    assert requests.get(f"{app}/readyz", timeout=30).status_code == 200  # probes stay open


def _responses(app, route: str, status: int) -> float:
    """The replica's count of answers on `route` with `status` (its Prometheus text)."""
    text = app.http.get(f"{app}/metrics", timeout=30).text
    found = re.search(rf'skutune_http_responses_total\{{route="{route}",status="{status}"\}} (\S+)', text)
    return float(found.group(1)) if found else 0.0


def test_gateway_auth_stops_requests_without_a_token_before_a_replica(app):
    before = _responses(app, "/v1/search", 401)
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {TOKEN}"}) * 4:
        r = requests.post(f"{app}/v1/search", json={"query": "tv"}, headers=headers, timeout=30)
        assert r.status_code == 401 and "bearer token" in r.json()["detail"]
    assert _responses(app, "/v1/search", 401) == before  # the replica never saw them
    lower = requests.post(
        f"{app}/v1/search", json={"query": "tv"}, headers={"Authorization": f"bearer {TOKEN}"}, timeout=120
    )
    assert lower.status_code == 200  # the scheme is case-insensitive (RFC 9110)


def test_admin_token_alone_changes_the_registry_and_trained_adapters_stay(app):
    body = {"name": "hot2", "source": str(app.dir / "adapters" / "typo")}
    r = app.http.post(f"{app}/v1/adapters", json=body, timeout=60)  # the search token
    assert r.status_code == 401 and "admin token" in r.json()["detail"]
    assert app.http.delete(f"{app}/v1/adapters/typo", timeout=30).status_code == 401
    shadow = app.admin.post(f"{app}/v1/adapters", json={**body, "name": "typo"}, timeout=60)
    assert shadow.status_code == 409  # "typo@1" would take the trained adapter's traffic
    assert app.admin.delete(f"{app}/v1/adapters/typo", timeout=30).status_code == 409
    assert (app.dir / "adapters" / "typo" / "adapter_config.json").exists()
    assert app.admin.post(f"{app}/v1/adapters", json=body, timeout=60).status_code == 201
    assert app.admin.delete(f"{app}/v1/adapters/hot2", timeout=30).json() == {"deleted": ["hot2@1"]}
    assert [p.name.split(".")[0] for p in (app.dir / "adapters" / ".deleted").iterdir()].count("hot2@1") == 1


def test_ssrf_registration_never_reaches_a_host_the_client_names(app, tmp_path):
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    try:
        for source in (
            f"s3://bucket/a?endpoint_override=127.0.0.1:{port}&scheme=http",
            f"s3://user:pass@127.0.0.1:{port}/a",
            f"gs://bucket/a?endpoint_override=http://127.0.0.1:{port}",
            f"http://127.0.0.1:{port}/a",
            "/etc",
        ):
            r = app.admin.post(f"{app}/v1/adapters", json={"name": "x", "source": source}, timeout=30)
            assert r.status_code == 400 and "pass" not in r.json()["detail"], r.text
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()


def test_malformed_adapter_is_a_json_error_and_the_base_answers_as_before(app, client, tmp_path):
    from safetensors.torch import load_file, save_file

    bad = tmp_path / "bad"
    shutil.copytree(app.dir / "adapters" / "typo", bad)
    weights = load_file(bad / "adapter_model.safetensors")
    save_file({k: v[:, :-1].contiguous() for k, v in weights.items()}, str(bad / "adapter_model.safetensors"))
    base = _chat(client, "tiny:base", constrained=False).choices[0].message.content
    tuned = _chat(client, "tiny:typo", constrained=False).choices[0].message.content
    assert app.admin.post(f"{app}/v1/adapters", json={"name": "bad", "source": str(bad)}, timeout=60).status_code == 201
    try:
        r = app.http.post(
            f"{app}/v1/chat/completions", json={"model": "tiny:bad", "messages": [{"role": "user", "content": "tv"}]}
        )
        assert r.status_code == 422 and "could not be loaded" in r.json()["detail"], r.text
        assert _chat(client, "tiny:base", constrained=False).choices[0].message.content == base
        assert _chat(client, "tiny:typo", constrained=False).choices[0].message.content == tuned
    finally:
        app.admin.delete(f"{app}/v1/adapters/bad", timeout=30)
