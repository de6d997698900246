"""Typed keys for what the application holds for its whole life."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.backends import TranscriptionBackend
from gateway.config import GatewayConfig
from gateway.intake import AudioDecoder

CONFIG = web.AppKey("config", GatewayConfig)
BACKEND = web.AppKey("backend", TranscriptionBackend)
DECODER = web.AppKey("decoder", AudioDecoder)
OPENAPI = web.AppKey("openapi", dict[str, Any])
