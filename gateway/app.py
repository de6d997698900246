"""`create_app(config)`: routes, middlewares, and the long-lived clients of the gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from gateway.app_keys import BACKEND, CONFIG, DECODER, OPENAPI
from gateway.auth import ApiKeyStore
from gateway.backends import TranscriptionBackend
from gateway.backends.triton import TritonBackend
from gateway.config import GatewayConfig
from gateway.intake import FORM_OVERHEAD_BYTES, AudioDecoder
from gateway.middlewares import auth_middleware, error_middleware, request_id_middleware
from gateway.routes import add_routes

OPENAPI_SPEC = Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml"


def load_openapi() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(OPENAPI_SPEC.read_text())
    return spec


def create_app(config: GatewayConfig, backend: TranscriptionBackend | None = None) -> web.Application:
    """The gateway application. `backend` defaults to Triton at `config.triton_url`."""
    store = ApiKeyStore.from_config(config)
    app = web.Application(
        middlewares=[request_id_middleware, error_middleware, auth_middleware(store, not config.auth_disabled)],
        client_max_size=config.max_upload_bytes + FORM_OVERHEAD_BYTES,
    )
    app[CONFIG] = config
    app[OPENAPI] = load_openapi()
    add_routes(app)

    async def resources(app: web.Application) -> AsyncIterator[None]:
        app[BACKEND] = backend or TritonBackend(config)
        app[DECODER] = AudioDecoder(config)
        yield
        app[DECODER].close()
        await app[BACKEND].close()

    app.cleanup_ctx.append(resources)
    return app
