"""Helpers of the live transcription tests: a raw session on `/v1/realtime`, and uploads of the same audio."""

from __future__ import annotations

import base64
import io
import json
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import numpy as np

from devstack.gateway_process import GatewayProcess
from live_client.stream import session_update, websocket_url
from tests.gateway_process import TEST_API_KEY

AUTH = {"Authorization": f"Bearer {TEST_API_KEY}"}


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(np.asarray(samples, dtype="<i2").tobytes())
    return out.getvalue()


async def upload_text(http: aiohttp.ClientSession, gateway: GatewayProcess, samples: np.ndarray, rate: int) -> str:
    """The `text` a file upload of `samples` (PCM16 at `rate`, as a WAV file) gets."""
    form = aiohttp.FormData()
    form.add_field("file", wav_bytes(samples, rate), filename="cut.wav")
    async with http.post(f"{gateway.url}/v1/audio/transcriptions", data=form, headers=AUTH) as response:
        assert response.status == 200, await response.text()
        return str((await response.json())["text"])


def append(samples: np.ndarray) -> dict[str, Any]:
    return {"type": "input_audio_buffer.append", "audio": base64.b64encode(samples.astype("<i2").tobytes()).decode()}


class RawSession:
    """One WebSocket on /v1/realtime, events sent and read one at a time."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(event))

    async def next_event(self, timeout_s: float = 30.0) -> dict[str, Any]:
        message = await self.ws.receive(timeout=timeout_s)
        assert message.type == aiohttp.WSMsgType.TEXT, (message.type, message.data, message.extra)
        event: dict[str, Any] = json.loads(message.data)
        return event

    async def until(self, kind: str, timeout_s: float = 60.0) -> dict[str, Any]:
        """The next event of type `kind` (others before it are skipped)."""
        while (event := await self.next_event(timeout_s))["type"] != kind:
            pass
        return event

    async def closed(self, timeout_s: float = 30.0) -> int | None:
        """The close code, once the server has closed the socket (events before it are skipped)."""
        while True:
            message = await self.ws.receive(timeout=timeout_s)
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                return self.ws.close_code
            if message.type == aiohttp.WSMsgType.ERROR:
                return self.ws.close_code


@asynccontextmanager
async def raw_session(
    http: aiohttp.ClientSession,
    gateway: GatewayProcess,
    turn_detection: dict[str, Any] | None = None,
    rate: int = 16000,
    **connect: Any,
) -> AsyncIterator[RawSession]:
    """A session set to PCM16 at `rate` with `turn_detection` (None: the client commits), after its
    created and updated events."""
    async with http.ws_connect(websocket_url(gateway.url), headers=AUTH, protocols=("realtime",), **connect) as ws:
        session = RawSession(ws)
        assert (await session.next_event())["type"] == "session.created"
        await session.send(session_update(turn_detection, None, None, None, rate))
        assert (await session.next_event())["type"] == "session.updated"
        yield session
