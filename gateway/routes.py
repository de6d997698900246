"""Route handlers: short functions that call the intake, the backend and the formats."""

from __future__ import annotations

import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from gateway.app_keys import (
    ADMISSION,
    CHAIN,
    CONFIG,
    DECODER,
    HEALTH,
    HTTP_SESSION,
    METRICS,
    OPENAPI,
    TOKENIZER,
    TRACER,
)
from gateway.backends.resilience import ResilientBackend
from gateway.formats import SEGMENT_FORMATS, Transcript, render
from gateway.health import readiness, system_health
from gateway.intake import read_form
from gateway.middlewares import REQUEST_ID, SERVED_BY_HEADER
from gateway.observability.metrics import GatewayMetrics
from gateway.params import parse_params
from gateway.streaming import stream_segments
from gateway.transcriber import TranscriptionJob, WindowLog
from whisper_runtime.audio import SAMPLE_RATE
from whisper_runtime.transcription import TranscriptionOptions

STARTED_AT = int(time.time())


async def transcriptions(request: web.Request) -> web.StreamResponse:
    config = request.app[CONFIG]
    async with request.app[ADMISSION].admit():  # before the upload is read: a refusal costs nothing
        form = await read_form(request, config)
        params = parse_params(form.fields, config)
        with request.app[TRACER].start_as_current_span("decode audio") as span:
            span.set_attribute("dattavani.upload_bytes", len(form.audio))
            pcm = await request.app[DECODER].decode(form.audio)
            seconds = pcm.size / SAMPLE_RATE
            span.set_attribute("dattavani.audio_seconds", round(seconds, 3))
        options = TranscriptionOptions(
            timestamps=params.response_format in SEGMENT_FORMATS, initial_prompt=params.prompt
        )
        job = TranscriptionJob(
            request.app[CHAIN],
            request.app[TOKENIZER],
            config.request_timeout_s,
            request[REQUEST_ID],
            client_connected=lambda: request.transport is not None and not request.transport.is_closing(),
        )
        windows = WindowLog()
        try:
            if params.stream:
                return await stream_segments(request, job.segments(pcm, options, windows), {})
            segments = [segment async for segment in job.segments(pcm, options, windows)]
        finally:
            record_windows(request.app[METRICS], windows)
    response = render(Transcript.of(segments, seconds), params.response_format)
    response.headers[SERVED_BY_HEADER] = windows.served_by
    return response


def record_windows(metrics: GatewayMetrics, windows: WindowLog) -> None:
    for backend, seconds in windows.seconds_by_backend.items():
        metrics.audio.labels(backend).inc(seconds)
    if "fallback" in windows.seconds_by_backend:
        metrics.fallback.inc()


async def models(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    return web.json_response(
        {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": STARTED_AT, "owned_by": "dattavani"}
                for name in config.served_model_names
            ],
        }
    )


async def live(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    system = system_health(config.model_repository, config.min_free_disk_mb, config.min_available_memory_mb)
    status, body = readiness(await request.app[HEALTH].get(), system, request.app[ADMISSION])
    return web.json_response(body, status=status)


async def metrics(request: web.Request) -> web.Response:
    """The gateway's metrics and Triton's, in Prometheus' text format; never fails because Triton is down."""
    metrics = request.app[METRICS]
    metrics.triton_up.set(1 if await metrics.triton.refresh(request.app[HTTP_SESSION]) else 0)
    admission = request.app[ADMISSION]
    metrics.running.set(admission.active)
    metrics.queued.set(admission.queued)
    metrics.queue_capacity.set(admission.max_queued)
    for backend in request.app[CHAIN].backends:
        if isinstance(backend, ResilientBackend):
            metrics.breaker_open.labels(backend.name).set(1 if backend.breaker_open else 0)
    return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/audio/transcriptions", transcriptions)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/health/live", live)
    app.router.add_get("/health/ready", ready)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/metrics", metrics)
