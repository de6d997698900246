"""Typed keys for what the application holds for its whole life."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web
from opentelemetry.trace import Tracer

from gateway.admission import Admission
from gateway.backends.chain import BackendChain
from gateway.config import GatewayConfig
from gateway.health import CachedHealth
from gateway.intake import AudioDecoder
from gateway.observability.metrics import GatewayMetrics
from whisper_runtime.tokenizer import WhisperTokenizer

CONFIG = web.AppKey("config", GatewayConfig)
ADMISSION = web.AppKey("admission", Admission)
CHAIN = web.AppKey("chain", BackendChain)
HEALTH = web.AppKey("health", CachedHealth)
DECODER = web.AppKey("decoder", AudioDecoder)
OPENAPI = web.AppKey("openapi", dict[str, Any])
METRICS = web.AppKey("metrics", GatewayMetrics)
HTTP_SESSION = web.AppKey("http_session", aiohttp.ClientSession)
TRACER = web.AppKey("tracer", Tracer)
TOKENIZER = web.AppKey("tokenizer", WhisperTokenizer)
