"""Hostile live sessions against a real gateway: random bytes, huge frames, wrong types, deep JSON, base64
that is not PCM, floods of tiny appends, a client that never reads. Every session ends or recovers with a
documented error, a well-behaved session alongside gets its text, the gateway stays ready, and its memory
returns to where it was."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import socket

import aiohttp
import numpy as np
import requests

from devstack.gateway_process import GatewayProcess
from live_client.stream import pcm16, session_update, stream
from tests.gateway.realtime import AUTH, append
from tests.gateway_process import TEST_API_KEY

# The error codes and close codes docs/api.md documents for live sessions.
ERROR_CODES = {
    "invalid_json", "invalid_event", "invalid_frame", "unknown_event_type", "unsupported_event", "invalid_base64",
    "invalid_audio", "input_audio_buffer_commit_empty", "input_audio_buffer_full", "unsupported_audio_format",
    "unsupported_turn_detection", "unsupported_session_type", "invalid_parameter", "model_not_found",
    "unsupported_language", "session_update_refused", "rate_limit_exceeded", "session_idle_timeout",
    "session_expired", "too_many_sessions",
}  # fmt: skip
CLOSE_CODES = {1000, 1008, 1009, 1013}
ROUNDS = 3
MEMORY_SLACK_BYTES = 48 * 1024 * 1024


def _hostile_frames(rng: random.Random) -> list[str | bytes]:
    """One session's worth of bad frames, in a random order, with a few good ones among them."""
    noise = rng.randbytes(rng.randrange(2, 20000) // 2 * 2)
    frames: list[str | bytes] = [
        rng.randbytes(rng.randrange(1, 3000)).decode("latin-1"),
        rng.randbytes(rng.randrange(1, 3000)),
        json.dumps({"type": rng.choice([1, None, [], {}, "x" * 5000])}),
        json.dumps({"type": "session.update", "session": rng.choice(["x", [], 5, {"audio": {"input": []}}])}),
        json.dumps({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
            "format": rng.choice([[], "pcm", {"rate": "fast"}, {"type": "audio/pcm", "rate": True}]),
            "turn_detection": rng.choice([5, {"type": "server_vad", "threshold": "loud"}, {"type": None}])}}}}),
        "[" * 100_000 + "]" * 100_000,
        json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(noise).decode()}),
        json.dumps({"type": "input_audio_buffer.append", "audio": "=" * rng.randrange(1, 100)}),
        json.dumps({"type": "input_audio_buffer.commit"}),
        json.dumps({"type": "input_audio_buffer.clear"}),
        json.dumps(session_update(None, None, None, None, rng.choice([16000, 24000]))),
    ]  # fmt: skip
    rng.shuffle(frames)
    return frames


Outcome = tuple[int | None, list[str]]  # the close code (None: the client closed), the error codes


async def _hostile_session(
    http: aiohttp.ClientSession, gateway: GatewayProcess, frames: list[str | bytes], pause_s: float = 0.02
) -> Outcome:
    """Send `frames` (reading all the while); the close code (None: the client closed) and the error codes."""
    codes: list[str] = []
    async with http.ws_connect(f"{gateway.url.replace('http', 'ws')}/v1/realtime", headers=AUTH,
                               max_msg_size=0) as ws:  # fmt: skip

        async def read() -> None:
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT and (event := json.loads(message.data))["type"] == "error":
                    codes.append(event["error"]["code"])

        reader = asyncio.create_task(read())
        try:
            for frame in frames:
                await (ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_str(frame))
                await asyncio.sleep(pause_s)
            await asyncio.sleep(0.5)
        except ConnectionError:
            pass
        finally:
            closed_by_server = ws.closed
            await ws.close()
            reader.cancel()
        return (ws.close_code if closed_by_server else None), codes


async def _flood(http: aiohttp.ClientSession, gateway: GatewayProcess) -> Outcome:
    return await _hostile_session(http, gateway, [json.dumps(append(np.zeros(1, dtype="<i2")))] * 300, pause_s=0)


async def _huge(http: aiohttp.ClientSession, gateway: GatewayProcess) -> Outcome:
    return await _hostile_session(http, gateway, ["x" * (8 * 1024 * 1024)])  # the server reads it to its end: 1009


def _never_reads(gateway: GatewayProcess) -> socket.socket:
    """A client that completes the handshake, starts a session with audio, and then never reads."""
    host, port = gateway.url.removeprefix("http://").split(":")
    client = socket.create_connection((host, int(port)))
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.sendall(
        f"GET /v1/realtime HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {base64.b64encode(b'0123456789abcdef').decode()}\r\nSec-WebSocket-Version: 13\r\n"
        f"Authorization: Bearer {TEST_API_KEY}\r\n\r\n".encode()
    )
    for _ in range(20):  # masked text frames, each an append of 100 ms of noise
        payload = json.dumps(append(np.random.default_rng(0).integers(-3000, 3000, 1600))).encode()
        mask = b"\x01\x02\x03\x04"
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        client.sendall(b"\x81\xfe" + len(payload).to_bytes(2, "big") + mask + masked)
    return client


def _metric(gateway: GatewayProcess, name: str) -> float:
    text = requests.get(f"{gateway.url}/metrics", headers=AUTH, timeout=10).text
    return float(next(line.split()[1] for line in text.splitlines() if line.startswith(name)))


async def _sessions_fewer_than(gateway: GatewayProcess, count: int) -> None:
    """Wait until the gateway has let go of ended sessions (the limit of the tight gateway is 2)."""
    async with asyncio.timeout(30):
        while _metric(gateway, "dattavani_realtime_sessions_open") >= count:
            await asyncio.sleep(0.1)


async def test_hostile_sessions_end_cleanly_and_leave_the_gateway_as_it_was(
    http: aiohttp.ClientSession, tight_gateway: GatewayProcess, jfk_pcm: np.ndarray
) -> None:
    rng = random.Random(20261203)
    resident: list[float] = []
    for _ in range(ROUNDS):
        silent = _never_reads(tight_gateway)
        outcomes = []
        for hostile in (
            lambda: _hostile_session(http, tight_gateway, _hostile_frames(rng)),
            lambda: _flood(http, tight_gateway),
            lambda: _huge(http, tight_gateway),
        ):
            await _sessions_fewer_than(tight_gateway, 2)
            outcomes.append(await hostile())
        silent.close()
        await _sessions_fewer_than(tight_gateway, 1)
        for close_code, codes in outcomes:
            assert close_code is None or close_code in CLOSE_CODES, outcomes
            assert set(codes) <= ERROR_CODES, codes
        assert outcomes[1][0] == 1008 and "rate_limit_exceeded" in outcomes[1][1]
        assert outcomes[2][0] == 1009
        good = await stream(http, tight_gateway.url, TEST_API_KEY, pcm16(jfk_pcm[: 16000 * 3]), speed=0,
                            turn_detection=None)  # fmt: skip
        assert "fellow americans" in good.text.lower(), good
        assert requests.get(f"{tight_gateway.url}/health/ready", headers=AUTH, timeout=10).status_code == 200
        resident.append(_metric(tight_gateway, "process_resident_memory_bytes"))
    assert resident[-1] <= resident[0] + MEMORY_SLACK_BYTES, resident
