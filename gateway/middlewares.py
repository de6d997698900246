"""Middlewares: request ids, authentication, and the one place errors become JSON responses."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from gateway.auth import WWW_AUTHENTICATE, ApiKeyStore, authenticate
from gateway.errors import (
    ApiError,
    AuthenticationError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    ShuttingDownError,
    TooManyRequestsError,
)
from gateway.observability.metrics import GatewayMetrics
from gateway.observability.tracing import incoming_context

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID = web.RequestKey("request_id", str)
ERROR_CODE = web.RequestKey("error_code", str)
MODEL = web.RequestKey("model", str)  # the served model a request named, once its form was read
LANGUAGE = web.RequestKey("language", str)  # its spoken language (given, or detected), once known
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
SERVED_BY_HEADER = "X-Served-By"
MODEL_VERSION_HEADER = "X-Model-Version"  # the model versions that served: "triton/2", "triton/1,triton/2"
LANGUAGE_HEADER = "X-Spoken-Language"  # the code of the language the audio was decoded as

log = logging.getLogger("gateway")


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Take the client's X-Request-ID when it is safe to echo, else make one; return it on every response."""
    offered = request.headers.get(REQUEST_ID_HEADER, "")
    request[REQUEST_ID] = offered if SAFE_REQUEST_ID.match(offered) else uuid.uuid4().hex
    response = await handler(request)
    response.headers[REQUEST_ID_HEADER] = request[REQUEST_ID]
    return response


def error_response(error: ApiError) -> web.Response:
    response = web.json_response(error.body(), status=error.status)
    if isinstance(error, AuthenticationError):
        response.headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    if isinstance(error, TooManyRequestsError):
        response.headers["Retry-After"] = str(error.retry_after_s)
    if isinstance(error, ShuttingDownError):
        response.headers["Connection"] = "close"
    return response


def _from_http_exception(exc: web.HTTPException) -> ApiError:
    if exc.status == 404:
        return NotFoundError("no such route")
    if exc.status == 405:
        return MethodNotAllowedError("method not allowed on this route")
    if exc.status == 413:
        return PayloadTooLargeError("the request body is too large")
    error = ApiError(exc.reason, code=f"http_{exc.status}")
    error.status = exc.status  # type: ignore[misc]
    return error


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render every failure as an OpenAI-shaped JSON error; unexpected ones are logged as 500s."""
    try:
        return await handler(request)
    except ApiError as error:
        failure = error
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        failure = _from_http_exception(exc)
    except Exception:
        log.exception("unhandled error in %s %s (request %s)", request.method, request.path, request.get(REQUEST_ID))
        failure = ApiError("internal error; the request id identifies it in the logs")
    request[ERROR_CODE] = failure.code
    return error_response(failure)


def route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def metrics_middleware(metrics: GatewayMetrics) -> Middleware:
    """Count every answer by route, status and backend, time it, and count errors by code."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        response = await handler(request)
        route = route_name(request)
        served_by = response.headers.get(SERVED_BY_HEADER, "none")
        model = request.get(MODEL, "none")
        metrics.requests.labels(route, request.method, str(response.status), served_by, model).inc()
        metrics.latency.labels(route, model).observe(time.perf_counter() - started)
        if ERROR_CODE in request:
            metrics.errors.labels(route, request[ERROR_CODE], model).inc()
        return response

    return middleware


def tracing_middleware(tracer: Tracer) -> Middleware:
    """A server span per request, continuing the client's W3C trace when it sent `traceparent`."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_name(request)
        with tracer.start_as_current_span(
            f"{request.method} {route}", context=incoming_context(request.headers), kind=SpanKind.SERVER
        ) as span:
            span.set_attributes(
                {
                    "http.request.method": request.method,
                    "http.route": route,
                    "dattavani.request_id": request[REQUEST_ID],
                }
            )
            response = await handler(request)
            span.set_attribute("http.response.status_code", response.status)
            span.set_attribute("dattavani.served_by", response.headers.get(SERVED_BY_HEADER, "none"))
            for key, attribute in ((MODEL, "dattavani.model"), (LANGUAGE, "dattavani.language")):
                if key in request:
                    span.set_attribute(attribute, request[key])
            if ERROR_CODE in request:
                span.set_attribute("dattavani.error_code", request[ERROR_CODE])
            if response.status >= 500:
                span.set_status(Status(StatusCode.ERROR))
            return response

    return middleware


def auth_middleware(store: ApiKeyStore, enabled: bool, public_paths: frozenset[str]) -> Middleware:
    """Require an accepted key on every route but `public_paths` (unless auth is disabled)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if enabled and request.path not in public_paths:
            authenticate(request, store)
        return await handler(request)

    return middleware
