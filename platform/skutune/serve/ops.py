"""Operations for the Serve app: bearer-token auth, a request-size limit, JSON error bodies,
and Prometheus metrics per adapter.

The token is read in the replica from a file or an environment variable, never from the app's
args (those show in the Serve config and dashboard). With neither set, auth is off and the
replica logs a warning: fine on loopback, never on a cluster.
"""

import hmac
import logging
import os
import time
from pathlib import Path

from fastapi import Request
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

log = logging.getLogger("skutune.serve")
OPEN = {
    "/",
    "/healthz",
    "/readyz",
    "/docs",
    "/openapi.json",
    "/metrics",
}  # no token needed: probes, the page, the API schema


def load_token(env_var: str, token_file: str | None) -> str | None:
    if token_file:
        token = Path(token_file).read_text().strip()
        if not token:
            raise ValueError(f"auth token file {token_file} is empty")
        return token
    token = os.environ.get(env_var, "").strip()
    if not token:
        log.warning("no API token (%s or auth_token_file): every route is open", env_var)
    return token or None


def error(status: int, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def route_path(request: Request) -> str:
    """The path inside the app: Serve mounts it under its route_prefix (the ASGI root_path)."""
    return request.url.path.removeprefix(request.scope.get("root_path", "")) or "/"


class Guard:
    """Checked before routing: 413 for a body over `max_body` bytes, 411 for a body without a
    Content-Length (a chunked upload could not be bounded before it is read), 401 without
    `Authorization: Bearer <token>` on any route outside OPEN."""

    def __init__(self, token: str | None = None, max_body: int = 65536):
        self.token, self.max_body = token, max_body

    def check(self, request: Request) -> JSONResponse | None:
        length = request.headers.get("content-length")
        if length is None and request.headers.get("transfer-encoding"):
            return error(411, "send a Content-Length: chunked request bodies are not accepted")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return error(413, f"request body over {self.max_body} bytes")
        if self.token and route_path(request) not in OPEN:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                return error(401, "missing or invalid bearer token", {"WWW-Authenticate": "Bearer"})
        return None


class Metrics:
    """Per replica: requests by route, adapter and status; latency; prompt and completion tokens."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "skutune_requests", "Requests served", ["route", "adapter", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "skutune_request_latency_seconds",
            "Request latency",
            ["route", "adapter"],
            registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64),
        )
        self.responses = Counter(
            "skutune_http_responses",
            "Responses by route and status, errors included",
            ["route", "status"],
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "skutune_batch_size", "Requests per forward pass", registry=self.registry, buckets=(1, 2, 4, 8, 16, 32)
        )
        self.batch_adapters = Histogram(
            "skutune_batch_adapters",
            "Distinct adapters per forward pass",
            registry=self.registry,
            buckets=(1, 2, 3, 4, 8),
        )
        self.tokens = Counter("skutune_tokens", "Tokens processed", ["adapter", "kind"], registry=self.registry)

    def observe(
        self, route: str, adapter: str, status: int, started: float, prompt_tokens: int = 0, completion_tokens: int = 0
    ):
        self.requests.labels(route, adapter, str(status)).inc()
        self.latency.labels(route, adapter).observe(time.time() - started)
        self.tokens.labels(adapter, "prompt").inc(prompt_tokens)
        self.tokens.labels(adapter, "completion").inc(completion_tokens)

    def batch(self, adapters: list[str]):
        self.batch_size.observe(len(adapters))
        self.batch_adapters.observe(len(set(adapters)))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


async def validation_error(request: Request, exc) -> JSONResponse:
    """422 with where and why, without echoing the input: FastAPI's default echoes it, and an
    input of NaN or Infinity (which Python's JSON parser accepts) then fails to serialise: a 500."""
    return JSONResponse(
        {"detail": [{k: e[k] for k in ("loc", "msg", "type") if k in e} for e in exc.errors()]}, status_code=422
    )
