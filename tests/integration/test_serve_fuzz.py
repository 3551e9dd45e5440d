"""Fuzzing the HTTP surface with hypothesis: over 1,000 generated requests (random JSON, near-valid
bodies with wrong values, odd adapter ids, methods and paths) and not one 5xx; every error
answer is a JSON body with `detail`."""

import json

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = 280  # per test; four tests: up to 1,120 requests
scalars = st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats() | st.text(max_size=40)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
ids = st.text(alphabet="abc./@-_%19ZÄ \\", min_size=0, max_size=20) | st.sampled_from(
    ["typo", "typo@1", "base", "..", "%2e%2e", "a" * 70]
)
small = st.integers(-3, 80)
search_bodies = st.fixed_dictionaries(
    {"query": st.text(max_size=60) | scalars},
    optional={
        "mode": st.sampled_from(["closed_book", "grounded", "x"]),
        "adapter": ids | scalars,
        "region": st.sampled_from(["IN", "EU", "US", "MARS"]),
        "date": st.sampled_from(["2026-10-25", "2026-13-40", "yesterday"]),
        "k": small,
        "rerank": st.booleans() | scalars,
        "constrained": st.booleans(),
        "extra": scalars,
    },
)
chat_bodies = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["tiny", "tiny:typo", "tiny:comparison", "tiny:", "gpt-4o"])
        | ids.map("tiny:{}".format),
        "messages": st.lists(
            st.fixed_dictionaries(
                {
                    "role": st.sampled_from(["user", "system", "assistant", "robot"]),
                    "content": st.text(max_size=80) | scalars,
                }
            ),
            max_size=3,
        ),
    },
    optional={
        "max_tokens": small,
        "stream": st.booleans(),
        "n": small,
        "temperature": st.floats(-1, 3),
        "region": st.sampled_from(["IN", "EU", "XX"]),
        "task": st.sampled_from(["search", "qa", "nope"]),
        "response_format": st.sampled_from([{"type": "json_object"}, {"type": "xml"}, "json"]),
    },
)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


SEEN: dict[int, int] = {}  # status -> requests


def _check(r: requests.Response):
    SEEN[r.status_code] = SEEN.get(r.status_code, 0) + 1
    assert r.status_code < 500, (r.status_code, r.request.method, r.request.url, r.request.body, r.text[:300])
    if r.status_code >= 400:
        assert "detail" in r.json()


@pytest.fixture(autouse=True)
def statuses(request):
    """Each fuzz test on its own (any order, or alone): it sent its examples, none answered 5xx."""
    SEEN.clear()
    yield
    print(f"{request.node.name} statuses:", json.dumps(dict(sorted(SEEN.items()))))
    assert sum(SEEN.values()) >= EXAMPLES * 3 // 4 and max(SEEN) < 500


@pytest.fixture(scope="module")
def http(app):
    for body in ({"query": "tv", "max_tokens": 2},):  # warm: the first request loads adapters
        app.http.post(f"{app}/v1/search", json=body, timeout=120)
    return app


def _post(app, path, body, session=None):
    # json.dumps writes NaN and Infinity, which strict JSON parsers must refuse: part of the fuzz
    return (session or app.http).post(
        f"{app}{path}", data=json.dumps(body), headers={"content-type": "application/json"}, timeout=120
    )


@FUZZ
@given(body=search_bodies | json_values)
def test_fuzz_search(http, body):
    _check(_post(http, "/v1/search", body))


@FUZZ
@given(body=chat_bodies | json_values)
def test_fuzz_chat(http, body):
    if isinstance(body, dict) and isinstance(body.get("max_tokens"), int) and body["max_tokens"] > 8:
        body["max_tokens"] = 8  # keep generation short; the limit itself is tested with 97 elsewhere
    r = _post(http, "/v1/chat/completions", body)
    _check(r)
    if r.status_code == 200 and isinstance(body, dict) and body.get("stream"):
        assert r.text.rstrip().endswith("data: [DONE]")


@FUZZ
@given(
    body=st.fixed_dictionaries(
        {
            "name": ids,
            "source": st.text(max_size=40)
            | st.sampled_from(["/", "/nonexistent", "file:///etc", "s3://x/y", "hdfs://"]),
        },
        optional={"valid_from": st.text(max_size=12), "regions": json_values},
    )
    | json_values
)
def test_fuzz_register(http, body):
    _check(_post(http, "/v1/adapters", body, http.admin))  # the admin token: fuzz the registry, not the guard


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    path=st.sampled_from(["/v1/adapters/", "/v1/models", "/v1/search", "/v1/chat/completions", "/nope/", "/v1/"]),
    tail=ids,
    raw=st.binary(max_size=200),
)
def test_fuzz_methods_paths_and_raw_bytes(http, method, path, tail, raw):
    if (
        method == "DELETE"
        and path == "/v1/adapters/"
        and tail.split("@")[0] in {"typo", "comparison", "regional", "seasonal", "base"}
    ):
        tail = "fuzz-" + tail  # never delete the fixture's adapters
    r = http.http.request(
        method,
        f"{http}{path}{requests.utils.quote(tail, safe='')}",
        data=raw,
        headers={"content-type": "application/json"},
        timeout=120,
    )
    _check(r)
