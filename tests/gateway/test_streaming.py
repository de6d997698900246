"""Streams whose backend fails: before the first segment a JSON error, after it an `error` event.

The app runs in-process over real HTTP (aiohttp's test server) with a scripted backend, so the
failure lands exactly between two windows.
"""

from __future__ import annotations

import io
import json
import wave
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import aiohttp
import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import create_app
from gateway.backends import ComponentHealth, Deadline, Served
from gateway.config import GatewayConfig
from gateway.errors import BackendUnavailableError
from whisper_runtime.audio import SAMPLE_RATE
from whisper_runtime.decoding import DecodingResult
from whisper_runtime.model_files import ModelFiles
from whisper_runtime.prompts import Prompt
from whisper_runtime.repository import DEFAULT_MODEL, DEFAULT_REPOSITORY

TOKENIZER = ModelFiles.load(DEFAULT_REPOSITORY, DEFAULT_MODEL).tokenizer
BEGIN = TOKENIZER.special.timestamp_begin
# A whole window with one segment: "Hello there." from 0 to 28 s, then the window is done.
FIRST_WINDOW = DecodingResult(
    (BEGIN, *TOKENIZER.encode(" Hello there."), BEGIN + 1400), "Hello there.", -0.1, 0.0, "en"
)


class ScriptedBackend:
    name = "triton"
    precisions = ("int8",)

    def __init__(self, script: Iterator[DecodingResult | Exception]) -> None:
        self._script = script

    async def decode_window(
        self, pcm: np.ndarray, prompt: Prompt | None, request_id: str, deadline: Deadline
    ) -> Served:
        outcome = next(self._script)
        if isinstance(outcome, Exception):
            raise outcome
        return Served(outcome, self.name, "1")

    async def check(self) -> ComponentHealth:
        return ComponentHealth("ok", "scripted")

    async def close(self) -> None:
        pass


def wav_bytes(seconds: float) -> bytes:
    samples = (np.random.default_rng(0).normal(0, 300, int(seconds * SAMPLE_RATE))).astype(np.int16)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()


Client = TestClient[aiohttp.web.Request, aiohttp.web.Application]
StartClient = Callable[..., Awaitable[Client]]


@pytest.fixture
async def client_for() -> AsyncIterator[StartClient]:
    """Start the app over a scripted backend: each window gets the script's next outcome."""
    clients: list[Client] = []

    async def start(*script: DecodingResult | Exception) -> Client:
        config = GatewayConfig(auth_disabled=True, models=(DEFAULT_MODEL,))
        app = create_app(config, backends={DEFAULT_MODEL: [ScriptedBackend(iter(script))]})
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


async def post_stream(client: Client) -> aiohttp.ClientResponse:
    form = aiohttp.FormData()
    form.add_field("file", wav_bytes(40.0), filename="noise.wav")
    form.add_field("stream", "true")
    return await client.post("/v1/audio/transcriptions", data=form)


async def test_a_failure_after_the_first_segment_ends_the_stream_with_an_error_event(client_for: StartClient) -> None:
    client = await client_for(FIRST_WINDOW, BackendUnavailableError("Triton failed the request"))
    response = await post_stream(client)
    assert response.status == 200 and response.content_type == "text/event-stream"
    events = [json.loads(line[len("data: ") :]) for line in (await response.text()).split("\n\n") if line]
    assert events[0] == {"type": "transcript.text.delta", "delta": "Hello there."}
    assert events[-1]["type"] == "error"
    assert events[-1]["error"]["code"] == "backend_unavailable"
    assert len(events) == 2


async def test_a_failure_before_any_segment_is_an_ordinary_json_error(client_for: StartClient) -> None:
    client = await client_for(BackendUnavailableError("Triton failed the request"))
    response = await post_stream(client)
    assert response.status == 503
    assert (await response.json())["error"]["code"] == "backend_unavailable"
