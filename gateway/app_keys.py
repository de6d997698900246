"""Typed keys for what the application holds for its whole life."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from opentelemetry.trace import Tracer

from gateway.admission import Admission
from gateway.backends.chain import BackendChain
from gateway.backends.watch import TritonWatch
from gateway.chunking import SpeechChunker
from gateway.config import GatewayConfig
from gateway.health import CachedHealth
from gateway.intake import AudioDecoder
from gateway.models import ModelCatalog
from gateway.observability.metrics import GatewayMetrics

if TYPE_CHECKING:
    from gateway.realtime.session import PartialSlots, RealtimeSession

CONFIG = web.AppKey("config", GatewayConfig)
ADMISSION = web.AppKey("admission", Admission)
MODELS = web.AppKey("models", ModelCatalog)
CHAINS = web.AppKey("chains", dict[str, BackendChain])  # by model name
HEALTH = web.AppKey("health", CachedHealth)
DECODER = web.AppKey("decoder", AudioDecoder)
OPENAPI = web.AppKey("openapi", dict[str, Any])
METRICS = web.AppKey("metrics", GatewayMetrics)
HTTP_SESSION = web.AppKey("http_session", aiohttp.ClientSession)
TRACER = web.AppKey("tracer", Tracer)
TRITON_WATCH = web.AppKey("triton_watch", TritonWatch)  # the Triton endpoints and each model's pool of them
SPEECH = web.AppKey("speech", SpeechChunker)  # voice activity detection for chunking_strategy
REALTIME_SESSIONS: web.AppKey[set[RealtimeSession]] = web.AppKey("realtime_sessions")  # the live sessions open
PARTIAL_SLOTS: web.AppKey[PartialSlots] = web.AppKey("partial_slots")  # partial decodes in flight, all sessions
