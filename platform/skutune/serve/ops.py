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
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

log = logging.getLogger("skutune.serve")
OPEN = {"/", "/healthz", "/readyz"}  # no token needed: the page and the probes. /metrics and /docs name
# adapters and campaigns: they take the token (Prometheus sends one with `authorization:`)


def load_token(env_var: str, token_file: str | None, missing: str = "every route is open") -> str | None:
    if token_file:
        token = Path(token_file).read_text().strip()
        if not token:
            raise ValueError(f"auth token file {token_file} is empty")
        return token
    token = os.environ.get(env_var, "").strip()
    if not token:
        log.warning("no token in %s (or its token file): %s", env_var, missing)
    return token or None


class Laps:
    """Milliseconds per stage of one request, in the order they ran: a search answer's `stages_ms`,
    so a slow answer says where its time went (correction, parse cache, queue, decode, retrieval)."""

    def __init__(self):
        self.last, self.ms = time.perf_counter(), {}

    def __call__(self, stage: str, inner: tuple[str, float] | None = None) -> None:
        """Close `stage` at now. `inner`: (name, ms) of a part of it timed elsewhere (the engine's
        decode inside a parse's wait), reported after it as a stage of its own, so stages sum to the whole."""
        now = time.perf_counter()
        ms = 1000 * (now - self.last) - (inner[1] if inner else 0.0)
        self.ms[stage] = round(ms, 1)
        if inner:
            self.ms[inner[0]] = round(inner[1], 1)
        self.last = now


def error(status: int, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def route_path(request: Request) -> str:
    """The path inside the app: Serve mounts it under its route_prefix (the ASGI root_path)."""
    return request.url.path.removeprefix(request.scope.get("root_path", "")) or "/"


class Guard:
    """Checked before routing, by the Gateway and again in the replica: 413 for a body over
    `max_body` bytes, 400 for a malformed Content-Length, 411 for a body without one (a chunked
    upload could not be bounded before it is read), 401 without `Authorization: Bearer <token>`
    on any route outside OPEN. Changing the registry (POST, DELETE /v1/adapters) takes the admin
    token, and is refused (403) while none is set: the token that searches never rewrites adapters."""

    def __init__(self, token: str | None = None, max_body: int = 65536, admin: str | None = None):
        self.token, self.max_body, self.admin = token, max_body, admin

    @classmethod
    def from_args(cls, args) -> "Guard":
        return cls(
            load_token(args.auth_token_env, args.auth_token_file),
            args.max_body_bytes,
            load_token(args.admin_token_env, args.admin_token_file, "POST and DELETE /v1/adapters are refused"),
        )

    def check(self, request: Request) -> JSONResponse | None:
        length = request.headers.get("content-length")
        if length is None and request.headers.get("transfer-encoding"):
            return error(411, "send a Content-Length: chunked request bodies are not accepted")
        if length is not None and not length.isdigit():
            return error(400, "Content-Length is not a number")
        if length is not None and int(length) > self.max_body:
            return error(413, f"request body over {self.max_body} bytes")
        path = route_path(request)
        if request.method in ("POST", "DELETE", "PUT", "PATCH") and path.startswith("/v1/adapters"):
            if not self.admin:
                return error(403, "registry changes are off: the app has no admin token (SKUTUNE_ADMIN_TOKEN)")
            return None if bearer(request, self.admin) else unauthorised("the admin token")
        if self.token and path not in OPEN and not bearer(request, self.token):
            return unauthorised("a bearer token")
        return None


def bearer(request: Request, token: str) -> bool:
    """`Authorization: Bearer <token>`, the scheme in any case (RFC 9110), compared in constant time."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def unauthorised(what: str) -> JSONResponse:
    return error(401, f"missing or invalid bearer token: this route takes {what}", {"WWW-Authenticate": "Bearer"})


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
            buckets=(0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64),
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
        self.parse_cache = Counter(
            "skutune_parse_cache",
            "/v1/search model outputs from the parse cache",
            ["target", "result"],
            registry=self.registry,
        )
        self.warmed = Gauge(
            "skutune_parse_cache_warmed",
            "Cached grounded head queries retrieved ahead for the live index and parse cache",
            registry=self.registry,
        )

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


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """Any error no route answered: a JSON 500 naming its type, never Starlette's plain text."""
    log.error("unhandled %s on %s", type(exc).__name__, route_path(request), exc_info=exc)
    return error(500, f"internal error ({type(exc).__name__}); the replica logged it")
