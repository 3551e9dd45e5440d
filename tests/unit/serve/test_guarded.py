"""The replica's guard as plain ASGI middleware (serve/app.py `Guarded`), driven with real ASGI
messages through a real FastAPI app: a JSON answer leaves in one body part (the Gateway then
relays it whole, not as a stream), refusals and errors are counted by route and status."""

import asyncio
import json
import types

from fastapi import FastAPI

from skutune.serve.app import Guarded
from skutune.serve.ops import Guard, Metrics


def _app():
    svc = types.SimpleNamespace(guard=Guard(token="secret"), metrics=Metrics())
    api = FastAPI()
    api.add_middleware(Guarded, svc=svc)

    @api.post("/v1/search")
    async def search() -> dict:
        return {"results": ["S24-128-BK"]}

    @api.get("/v1/models")
    async def models() -> dict:
        raise RuntimeError("a bug in the route")

    return api, svc


def _call(api, method: str, path: str, token: str | None = None) -> list[dict]:
    headers = [(b"content-length", b"2"), (b"content-type", b"application/json")]
    headers += [(b"authorization", f"Bearer {token}".encode())] if token else []
    scope = {"type": "http", "http_version": "1.1", "method": method, "scheme": "http", "path": path}
    scope |= {"raw_path": path.encode(), "root_path": "", "query_string": b"", "headers": headers}
    sent, body = [], [{"type": "http.request", "body": b"{}", "more_body": False}]

    async def receive():
        return body.pop() if body else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    async def run():
        try:
            await api(scope, receive, send)
        except RuntimeError:
            pass  # Starlette re-raises after answering 500, for the server's log

    asyncio.run(run())
    return sent


def _count(svc, route: str, status: str) -> float:
    return svc.metrics.responses.labels(route, status)._value.get()


def test_a_json_answer_leaves_in_one_body_part():
    api, svc = _app()
    sent = _call(api, "POST", "/v1/search", "secret")
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 200 and not sent[1].get("more_body")
    assert json.loads(sent[1]["body"]) == {"results": ["S24-128-BK"]}
    assert _count(svc, "/v1/search", "200") == 1


def test_refusals_and_errors_are_answered_and_counted():
    api, svc = _app()
    refused = _call(api, "POST", "/v1/search")
    assert refused[0]["status"] == 401 and "bearer token" in json.loads(refused[1]["body"])["detail"]
    failed = _call(api, "GET", "/v1/models", "secret")
    assert failed[0]["status"] == 500
    assert _count(svc, "/v1/search", "401") == 1 and _count(svc, "/v1/models", "500") == 1
