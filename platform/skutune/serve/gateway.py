"""The app's HTTP front: a light deployment that hands every request, as raw ASGI, to a
SearchService replica through a DeploymentHandle and relays its answer (streamed or not).

Why a front at all: when a replica dies mid-request (its process killed, its node preempted),
Serve's proxy answers the requests it held with a bare 500. Here the front catches the lost
replica and answers 503 with `Retry-After` and a JSON body; Serve meanwhile starts a new replica
and routes new requests to the live ones. A request that takes longer than the app's
`request_timeout_s` (plus a margin for the replica's own 504) gets a 504 from the front, so no
client waits on a replica that will never answer. The front checks sizes and tokens itself
(ops.Guard), so requests without a token never reach, queue at or fill a replica; when every
replica is at `max_ongoing_requests` the answer is 503 "overloaded", not "went away".
"""

import asyncio
import logging

from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from ray import serve
from ray.exceptions import RayActorError
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError

from skutune.serve.args import AppArgs
from skutune.serve.ops import Guard, error

log = logging.getLogger("ray.serve")
LOST = (RayActorError, DeploymentUnavailableError)  # RayActorError covers ActorDiedError / Unavailable
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
SCOPE_KEYS = (
    "type",
    "http_version",
    "method",
    "scheme",
    "path",
    "raw_path",
    "root_path",
    "query_string",
    "headers",
    "client",
    "server",
)
front = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)  # the service's own /docs is forwarded


@serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=256)
@serve.ingress(front)
class Gateway:
    def __init__(self, service, args: dict):
        opts = AppArgs.model_validate(args)
        self.service = service.options(method_name="asgi", stream=True)
        self.guard = Guard.from_args(opts)  # the replica checks again: it may be reached without the front
        self.timeout_s = opts.request_timeout_s + 10  # past the replica's own 504
        self.retry_after = str(opts.retry_after_s)

    @front.api_route("/{path:path}", methods=METHODS, include_in_schema=False)
    async def forward(self, request: Request, path: str) -> Response:
        refused = self.guard.check(request)  # before reading: a body is read only when its length is known and allowed
        if refused:
            return refused
        body = await request.body()
        scope = {k: request.scope[k] for k in SCOPE_KEYS if k in request.scope}
        messages = self.service.remote(scope, body)
        try:
            start, first = await asyncio.wait_for(messages.__anext__(), self.timeout_s)  # SearchService.asgi
        except BackPressureError:
            return error(
                503, "overloaded: every replica is at its request limit; retry", {"Retry-After": self.retry_after}
            )
        except LOST as err:
            log.warning("replica lost during %s %s: %s", request.method, request.url.path, type(err).__name__)
            return error(503, "the replica serving this request went away; retry", {"Retry-After": self.retry_after})
        except asyncio.TimeoutError:
            messages.cancel()
            return error(504, f"no answer within {self.timeout_s:.0f} s")
        if not first.get("more_body"):
            response = Response(first.get("body", b""), start["status"])
        else:
            response = StreamingResponse(self._rest(first, messages), start["status"])
        response.raw_headers = [tuple(h) for h in start.get("headers", [])]
        return response

    async def _rest(self, first: dict, messages):
        yield first.get("body", b"")
        try:
            async for message in messages:
                yield message.get("body", b"")
        except LOST:  # the replica died mid-stream: the status is sent, so the stream just ends
            log.warning("replica lost mid-stream")
