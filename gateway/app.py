"""`create_app(config)`: routes, middlewares, and the long-lived clients of the gateway."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from gateway.admission import Admission
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
    PARTIAL_SLOTS,
    REALTIME_SESSIONS,
    SPEECH,
    TRACER,
    TRITON_WATCH,
)
from gateway.auth import ApiKeyStore
from gateway.backends import TranscriptionBackend
from gateway.backends.chain import BackendChain
from gateway.backends.endpoints import EndpointDirectory
from gateway.backends.fallback import FallbackBackend
from gateway.backends.pool import EndpointPool
from gateway.backends.resilience import RetryPolicy
from gateway.backends.watch import TritonWatch
from gateway.chunking import SpeechChunker
from gateway.config import ConfigError, GatewayConfig
from gateway.errors import BackendError
from gateway.health import CachedHealth, ModelsHealth
from gateway.intake import FORM_OVERHEAD_BYTES, AudioDecoder
from gateway.middlewares import (
    auth_middleware,
    error_middleware,
    metrics_middleware,
    request_id_middleware,
    tracing_middleware,
)
from gateway.models import ModelCatalog, ServedModel
from gateway.observability.metrics import GatewayMetrics
from gateway.observability.tracing import tracer_for
from gateway.realtime.session import PartialSlots
from gateway.routes import add_routes
from whisper_runtime.audio import DecodeLimits
from whisper_runtime.engine import EngineOptions
from whisper_runtime.errors import ModelFilesError
from whisper_runtime.repository import parse_precision
from whisper_runtime.sessions import SessionOptions

OPENAPI_SPEC = Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml"


def load_openapi() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(OPENAPI_SPEC.read_text())
    return spec


def build_backends(config: GatewayConfig, model: ServedModel, metrics: GatewayMetrics) -> list[TranscriptionBackend]:
    """The chain named by `config.backends` for one model, in order: the pool of Triton endpoints (members
    added by the watch), the model's CPU fallback."""
    backends: list[TranscriptionBackend] = []
    for name in config.backends:
        if name == "triton":
            retry = RetryPolicy(config.retry_max_tries, config.retry_base_delay_s, config.retry_max_delay_s)

            def count_attempt(endpoint: str, model: str, outcome: str) -> None:
                metrics.endpoint_requests.labels(endpoint, model, outcome).inc()

            backends.append(EndpointPool(model.name, retry, config.canary_idle_s, count_attempt))
        else:
            options = EngineOptions(
                precision=parse_precision(config.fallback_precision),
                session=SessionOptions(intra_op_threads=config.fallback_threads),
            )
            backends.append(FallbackBackend.load(model.files, options, config.fallback_concurrency))
    return backends


# Probes need no key: liveness, and readiness as a bare status word (the full report needs one).
PROBE_PATHS = frozenset({"/health/live", "/health/ready/minimal"})
# The live page holds no data (it asks its user for a key), so a browser may load it without one.
PUBLIC_PAGES = frozenset({"/live"})


def create_app(config: GatewayConfig, backends: dict[str, list[TranscriptionBackend]] | None = None) -> web.Application:
    """The gateway application. `backends` (by model name) defaults to the chain `config.backends` names,
    for every configured model."""
    store = ApiKeyStore.from_config(config)
    models = ModelCatalog.load(config)
    metrics = GatewayMetrics()
    metrics.model.info(
        {"default": config.default, "models": ",".join(config.models), "aliases": ",".join(config.model_aliases)}
    )
    public_paths = PROBE_PATHS | PUBLIC_PAGES | (frozenset() if config.metrics_require_key else {"/metrics"})
    tracer = tracer_for(config.otlp_endpoint)
    app = web.Application(
        middlewares=[
            request_id_middleware,
            tracing_middleware(tracer),
            metrics_middleware(metrics),
            error_middleware,
            auth_middleware(store, not config.auth_disabled, public_paths),
        ],
        client_max_size=config.max_upload_bytes + FORM_OVERHEAD_BYTES,
    )
    app[CONFIG] = config
    app[OPENAPI] = load_openapi()
    app[METRICS] = metrics
    app[TRACER] = tracer
    app[MODELS] = models
    try:
        app[SPEECH] = SpeechChunker.load(config.model_repository, config.vad_workers)
    except ModelFilesError as exc:
        raise ConfigError(f"the VAD model (chunking_strategy) cannot be read: {exc}") from exc
    app[REALTIME_SESSIONS] = set()
    app[PARTIAL_SLOTS] = PartialSlots(config.realtime_max_partial_decodes)
    add_routes(app)

    def count_failure(backend: str, model: str, error: BackendError) -> None:
        metrics.backend_failures.labels(backend, model, error.code).inc()

    async def resources(app: web.Application) -> AsyncIterator[None]:
        app[HTTP_SESSION] = aiohttp.ClientSession()
        chains = {
            name: BackendChain(
                name,
                backends[name] if backends is not None else build_backends(config, model, metrics),
                tracer=tracer,
                on_failure=count_failure,
            )
            for name, model in models.models.items()
        }
        for name, chain in chains.items():
            metrics.fallback.labels(name)  # every model's series from the start, at 0
            for backend in chain.backends:
                if isinstance(backend, FallbackBackend) and backend.load_seconds is not None:
                    metrics.model_load.labels(name, backend.name).set(backend.load_seconds)
        app[CHAINS] = chains
        directory = EndpointDirectory(
            config.triton_url, config.triton_discovery, config.triton_dns_refresh_s, config.triton_metrics_url
        )
        pools = [b for chain in chains.values() for b in chain.backends if isinstance(b, EndpointPool)]
        sessions = app[REALTIME_SESSIONS]
        watch = app[TRITON_WATCH] = TritonWatch(
            directory, config, pools, app[HTTP_SESSION], busy=lambda: any(s.awaits_text for s in sessions)
        )
        await watch.round()  # endpoints checked before the first request
        watching = asyncio.create_task(watch.run())

        async def health() -> ModelsHealth:
            return {name: await chain.health() for name, chain in chains.items()}

        app[HEALTH] = CachedHealth(health, config.canary_interval_s)
        app[ADMISSION] = Admission(config.max_concurrent_requests, config.max_queued_requests, config.retry_after_s)
        app[DECODER] = AudioDecoder(
            DecodeLimits(max_seconds=config.max_audio_seconds, timeout_s=config.decode_timeout_s), config.decode_workers
        )
        yield
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
        app[DECODER].close()
        app[SPEECH].close()
        for chain in chains.values():
            await chain.close()
        await directory.close()
        await app[HTTP_SESSION].close()

    app.cleanup_ctx.append(resources)
    return app
