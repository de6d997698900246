"""`GET /v1/realtime`: the WebSocket of live transcription sessions (OpenAI's realtime transcription
protocol), and `GET /live`, the browser page that uses it.

The key is checked by the auth middleware before the upgrade (a header, or the subprotocol
`openai-insecure-api-key.KEY` from a browser); the socket answers with the subprotocol `realtime`.
A session is admitted after the upgrade, so that a refusal can say why: an `error` event, then close
code 1013 (full: OpenAI's 429) or 1001 (the gateway is shutting down). Close codes: docs/api.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

from aiohttp import web

from gateway.app_keys import (
    ADMISSION,
    CHAINS,
    CONFIG,
    DECODER,
    METRICS,
    MODELS,
    PARTIAL_SLOTS,
    REALTIME_SESSIONS,
    SPEECH,
    TRACER,
)
from gateway.errors import ApiError, InvalidRequestError, ShuttingDownError, TooManyRequestsError
from gateway.middlewares import MODEL, REQUEST_ID
from gateway.realtime.protocol import BETA_HEADER, Dialect, error_event
from gateway.realtime.session import RealtimeSession, SessionEndedError, SessionServices

SUBPROTOCOL = "realtime"
HEARTBEAT_S = 30.0  # pings find connections that died without a close
LINGER_S = 5.0  # how long a closed socket waits for the client's side to close too
CLOSE_FULL, CLOSE_GOING_AWAY = 1013, 1001
LIVE_PAGE = Path(__file__).resolve().parent.parent / "static" / "live.html"


class LingeringWebSocketResponse(web.WebSocketResponse):
    """A WebSocket whose socket stays open after the close frame, for the route to close once the client has
    closed its side (`_linger`). What the client still sends is read and dropped (aiohttp's parser stops at a
    closed WebSocket). Closing at once would leave unread bytes, and the kernel then answers with a reset that
    the client may see before the close frame: a client cut off in the middle of a frame over the limit would
    get no 1009. Half-closing would not do either: a client whose socket ends cannot send its closing reply,
    and aiohttp's client then reports 1006."""

    def _close_transport(self) -> None:  # aiohttp's hook for every close of the socket (pinned in pyproject)
        transport = self._req.transport if self._req is not None else None
        if transport is None or transport.is_closing():
            super()._close_transport()


async def _linger(request: web.Request) -> None:
    """Wait until the client has closed the connection (at most LINGER_S); aiohttp closes it after the handler."""
    deadline = asyncio.get_running_loop().time() + LINGER_S
    while request.transport is not None and not request.transport.is_closing():
        if asyncio.get_running_loop().time() > deadline:
            return
        await asyncio.sleep(0.05)


def _dialect(request: web.Request) -> Dialect:
    return "beta" if "realtime=v1" in request.headers.get(BETA_HEADER, "") else "ga"


async def realtime(request: web.Request) -> web.StreamResponse:
    app, config = request.app, request.app[CONFIG]
    ws = LingeringWebSocketResponse(
        protocols=(SUBPROTOCOL,), max_msg_size=config.realtime_max_frame_bytes, heartbeat=HEARTBEAT_S
    )
    if not ws.can_prepare(request).ok:
        raise InvalidRequestError("this route takes a WebSocket upgrade (GET with Upgrade: websocket)",
                                  code="websocket_required")  # fmt: skip
    model = app[MODELS].resolve(request.query.get("model") or None)  # 404 before the upgrade for a model not served
    request[MODEL] = model.name
    await ws.prepare(request)
    metrics = app[METRICS]
    outcome = "refused"
    try:
        async with app[ADMISSION].session(config.realtime_max_sessions):
            services = SessionServices(
                config, app[MODELS], app[CHAINS], app[DECODER], app[SPEECH], metrics, app[TRACER], app[PARTIAL_SLOTS]
            )

            def abort() -> None:
                if request.transport is not None:
                    request.transport.abort()

            session = RealtimeSession(ws, services, _dialect(request), model.name, request[REQUEST_ID], abort)
            app[REALTIME_SESSIONS].add(session)
            try:
                outcome = (await session.run()).outcome
            finally:
                app[REALTIME_SESSIONS].discard(session)
    except (TooManyRequestsError, ShuttingDownError) as refusal:
        await _refuse(ws, refusal, CLOSE_FULL if isinstance(refusal, TooManyRequestsError) else CLOSE_GOING_AWAY)
    finally:
        metrics.realtime_sessions.labels(outcome).inc()
        await _linger(request)
    return ws


async def _refuse(ws: web.WebSocketResponse, refusal: ApiError, code: int) -> None:
    async with asyncio.timeout(5):
        await ws.send_str(json.dumps({"event_id": "event_1", **error_event(refusal)}))
        await ws.close(code=code, message=refusal.code.encode())


async def close_sessions(app: web.Application) -> None:
    """Tell every open session the gateway is shutting down, and close it (1001): clients reconnect elsewhere."""
    error = ShuttingDownError("the gateway is shutting down; reconnect to another instance")
    sessions = app[REALTIME_SESSIONS].copy()
    for session in sessions:
        with contextlib.suppress(SessionEndedError):
            await session.send_error(error)
        session.end(SessionEndedError("shutting_down", CLOSE_GOING_AWAY, "server shutting down"))


async def live_page(_: web.Request) -> web.FileResponse:
    """The browser page: the microphone streamed to /v1/realtime, the live transcript shown."""
    return web.FileResponse(LIVE_PAGE, headers={"Content-Type": "text/html; charset=utf-8"})


def add_realtime_routes(app: web.Application) -> None:
    app.router.add_get("/v1/realtime", realtime)
    app.router.add_get("/live", live_page)
