"""Route handlers: short functions that call the intake, the backend and the formats."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from aiobreaker import CircuitBreakerState
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from gateway.app_keys import (
    ADMISSION,
    CHAINS,
    CONFIG,
    DECODER,
    HEALTH,
    HTTP_SESSION,
    METRICS,
    MODELS,
    OPENAPI,
    SPEECH,
    TRACER,
    TRITON_WATCH,
)
from gateway.backends.watch import TritonWatch
from gateway.chunking import in_recording_time
from gateway.formats import SEGMENT_FORMATS, Transcript, render
from gateway.health import readiness, system_health
from gateway.intake import read_form
from gateway.middlewares import LANGUAGE, LANGUAGE_HEADER, MODEL, MODEL_VERSION_HEADER, REQUEST_ID, SERVED_BY_HEADER
from gateway.observability.metrics import GatewayMetrics
from gateway.params import parse_params
from gateway.realtime.route import add_realtime_routes
from gateway.streaming import stream_segments
from gateway.transcriber import TranscriptionJob, WindowLog
from whisper_runtime.audio import SAMPLE_RATE
from whisper_runtime.languages import Task
from whisper_runtime.transcription import Segment, TranscriptionOptions
from whisper_runtime.vad import SpeechTimeline, VadOptions

STARTED_AT = int(time.time())


async def transcriptions(request: web.Request) -> web.StreamResponse:
    return await _transcribe(request, "transcribe")


async def translations(request: web.Request) -> web.StreamResponse:
    """Whisper's translate task: speech in any of the model's languages, English text out."""
    return await _transcribe(request, "translate")


async def _transcribe(request: web.Request, task: Task) -> web.StreamResponse:
    config = request.app[CONFIG]
    async with request.app[ADMISSION].admit():  # before the upload is read: a refusal costs nothing
        form = await read_form(request, config)
        params = parse_params(form.fields, request.app[MODELS], task)
        model = params.model
        request[MODEL] = model.name
        with request.app[TRACER].start_as_current_span("decode audio") as span:
            span.set_attribute("dattavani.upload_bytes", len(form.audio))
            pcm = await request.app[DECODER].decode(form.audio)
            seconds = pcm.size / SAMPLE_RATE
            span.set_attribute("dattavani.audio_seconds", round(seconds, 3))
        timeline = None if params.chunking is None else await speech_timeline(request, pcm, params.chunking, model.name)
        options = TranscriptionOptions(
            timestamps=params.response_format in SEGMENT_FORMATS,
            initial_prompt=params.prompt,
            language=params.language,
            task=task,
            temperature=params.temperature,
            seed=params.seed,
            word_timestamps=params.word_timestamps,
        )
        job = TranscriptionJob(
            request.app[CHAINS][model.name],
            model.files.tokenizer,
            config.request_timeout_s,
            request[REQUEST_ID],
            client_connected=lambda: request.transport is not None and not request.transport.is_closing(),
        )
        windows = WindowLog()

        def headers() -> dict[str, str]:
            """The headers of the answer, once the first window has been decoded."""
            language = windows.language or params.language or model.languages[0]
            request[LANGUAGE] = language
            return {
                SERVED_BY_HEADER: windows.served_by,
                MODEL_VERSION_HEADER: windows.model_versions,
                LANGUAGE_HEADER: language,
            }

        def transcript() -> AsyncIterator[Segment]:
            """The segments, in the recording's times (with chunking, decoded from its speech alone)."""
            if timeline is None:
                return job.segments(pcm, options, windows)
            return in_recording_time(job.segments(timeline.speech_audio(pcm), options, windows), timeline)

        try:
            if params.stream:
                return await stream_segments(request, transcript(), headers)
            segments = [segment async for segment in transcript()]
        finally:
            record_windows(request.app[METRICS], windows, model.name)
    answer = headers()
    response = render(
        Transcript.of(segments, seconds, answer[LANGUAGE_HEADER], task, params.word_timestamps), params.response_format
    )
    response.headers.update(answer)
    return response


async def speech_timeline(request: web.Request, pcm: np.ndarray, options: VadOptions, model: str) -> SpeechTimeline:
    """The speech spans of `pcm` (chunking_strategy), traced and counted."""
    with request.app[TRACER].start_as_current_span("detect speech") as span:
        timeline = await request.app[SPEECH].timeline(pcm, options)
        span.set_attribute("dattavani.speech_seconds", round(timeline.speech_seconds, 3))
        span.set_attribute("dattavani.speech_spans", len(timeline.spans))
    kept = request.app[METRICS].vad_audio
    kept.labels("speech", model).inc(timeline.speech_seconds)
    kept.labels("dropped", model).inc((pcm.size - timeline.speech_samples) / SAMPLE_RATE)
    return timeline


def record_windows(metrics: GatewayMetrics, windows: WindowLog, model: str) -> None:
    for backend, seconds in windows.seconds_by_backend.items():
        metrics.audio.labels(backend, model).inc(seconds)
    if "fallback" in windows.seconds_by_backend:
        metrics.fallback.labels(model).inc()


async def models(request: web.Request) -> web.Response:
    """Every served model, then the default's aliases, each with what it can do (OpenAI's fields, then ours) and
    the precisions each backend runs it in now."""
    catalog, chains = request.app[MODELS], request.app[CHAINS]
    served = [*catalog.models.items(), *((alias, catalog.default) for alias in catalog.aliases)]
    return web.json_response(
        {
            "object": "list",
            "data": [
                {
                    "id": name,
                    "object": "model",
                    "created": STARTED_AT,
                    "owned_by": "dattavani",
                    "model": model.name,
                    "default": model is catalog.default,
                    **model.capabilities(),
                    "precisions": {backend.name: backend.precisions for backend in chains[model.name].backends},
                }
                for name, model in served
            ],
        }
    )


async def live(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readiness(request: web.Request) -> tuple[int, dict[str, Any]]:
    config = request.app[CONFIG]
    system = system_health(config.model_repository, config.min_free_disk_mb, config.min_available_memory_mb)
    return readiness(await request.app[HEALTH].get(), system, request.app[ADMISSION])


async def ready(request: web.Request) -> web.Response:
    status, body = await _readiness(request)
    return web.json_response(body, status=status)


async def ready_minimal(request: web.Request) -> web.Response:
    """Readiness without a key, for probes: the status word alone (no models, endpoints or messages)."""
    status, body = await _readiness(request)
    return web.json_response({"status": body["status"]}, status=status)


async def metrics(request: web.Request) -> web.Response:
    """The gateway's metrics and Triton's, in Prometheus' text format; never fails because Triton is down."""
    metrics = request.app[METRICS]
    watch = request.app[TRITON_WATCH]
    endpoints = watch.directory.endpoints
    urls = {address: endpoint.metrics_url for address, endpoint in endpoints.items() if endpoint.metrics_url}
    await metrics.refresh_triton(urls, request.app[HTTP_SESSION])
    admission = request.app[ADMISSION]
    metrics.running.set(admission.active)
    metrics.queued.set(admission.queued)
    metrics.queue_capacity.set(admission.max_queued)
    metrics.realtime_sessions_open.set(admission.sessions)
    record_endpoints(metrics, watch)
    return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def record_endpoints(metrics: GatewayMetrics, watch: TritonWatch) -> None:
    """Each Triton endpoint's gauges as the watch last saw them (series of vanished endpoints removed)."""
    for gauge in (metrics.breaker_open, metrics.endpoint_up, metrics.model_version, metrics.versions_refused):
        gauge.clear()
    metrics.endpoint_in_flight.clear()
    for address, endpoint in watch.directory.endpoints.items():
        metrics.endpoint_in_flight.labels(address).set(endpoint.in_flight)
    for pool in watch.pools:
        for address, member in pool.members.items():
            broken = member.breaker.current_state != CircuitBreakerState.CLOSED
            metrics.breaker_open.labels(pool.name, pool.model, address).set(1 if broken else 0)
            metrics.endpoint_up.labels(address, pool.model).set(1 if member.admitted else 0)
            metrics.model_version.labels(address, pool.model).set(int(member.backend.version or 0))
            metrics.versions_refused.labels(address, pool.model).set(len(member.backend.refused_versions))


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/audio/transcriptions", transcriptions)
    app.router.add_post("/v1/audio/translations", translations)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/health/live", live)
    app.router.add_get("/health/ready", ready)
    app.router.add_get("/health/ready/minimal", ready_minimal)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/metrics", metrics)
    add_realtime_routes(app)
