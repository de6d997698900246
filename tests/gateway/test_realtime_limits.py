"""Live sessions' limits on a real gateway: sessions past the limit refused with 1013, idle and flooding
sessions closed with 1008, a full input buffer refused, a draining gateway closing sessions with 1001;
other sessions unaffected."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from devstack.gateway_process import GatewayProcess
from live_client.stream import pcm16, websocket_url
from tests.gateway.realtime import AUTH, append, raw_session
from tests.gateway_process import gateway_env
from triton_server.launcher import TritonServer


async def test_a_session_past_the_limit_is_refused_with_1013(
    http: aiohttp.ClientSession, tight_gateway: GatewayProcess, jfk_pcm: np.ndarray
) -> None:
    async with raw_session(http, tight_gateway) as first, raw_session(http, tight_gateway):
        async with http.ws_connect(websocket_url(tight_gateway.url), headers=AUTH) as third:
            refusal = json.loads((await third.receive(timeout=10)).data)
            assert refusal["type"] == "error" and refusal["error"]["code"] == "too_many_sessions"
            assert (await third.receive(timeout=10)).type == aiohttp.WSMsgType.CLOSE
            assert third.close_code == 1013
        await first.send(append(pcm16(jfk_pcm[: 16000 * 3])))  # the open sessions go on
        await first.send({"type": "input_audio_buffer.commit"})
        completed = await first.until("conversation.item.input_audio_transcription.completed")
        assert "fellow americans" in completed["transcript"].lower()
    async with raw_session(http, tight_gateway):  # places are given back when sessions end
        pass


async def test_an_idle_session_is_closed_with_1008(http: aiohttp.ClientSession, tight_gateway: GatewayProcess) -> None:
    async with raw_session(http, tight_gateway) as session:
        error = await session.until("error", timeout_s=10)
        assert error["error"]["code"] == "session_idle_timeout"
        assert await session.closed() == 1008


async def test_a_flood_of_events_is_closed_with_1008(
    http: aiohttp.ClientSession, tight_gateway: GatewayProcess
) -> None:
    async with raw_session(http, tight_gateway) as session:
        tiny = json.dumps(append(np.zeros(2, dtype="<i2")))
        for _ in range(400):
            await session.ws.send_str(tiny)
        error = await session.until("error", timeout_s=10)
        assert error["error"]["code"] == "rate_limit_exceeded"
        assert await session.closed() == 1008


async def test_a_full_buffer_refuses_more_audio(
    http: aiohttp.ClientSession, tight_gateway: GatewayProcess, jfk_pcm: np.ndarray
) -> None:
    async with raw_session(http, tight_gateway) as session:  # turn detection off: the buffer only grows
        await session.send(append(pcm16(jfk_pcm[: 16000 * 4])))
        await session.send(append(pcm16(jfk_pcm[16000 * 4 : 16000 * 8])))
        error = await session.until("error")
        assert error["error"]["code"] == "input_audio_buffer_full"
        await session.send({"type": "input_audio_buffer.commit"})  # the first 4 s are still there
        completed = await session.until("conversation.item.input_audio_transcription.completed")
        assert completed["usage"]["seconds"] == pytest.approx(4.0, abs=0.01)


async def test_a_draining_gateway_closes_sessions_with_1001(
    http: aiohttp.ClientSession, triton: TritonServer, tmp_path: Path
) -> None:
    gateway = GatewayProcess(gateway_env(triton), tmp_path / "gateway.log").start()
    try:
        async with raw_session(http, gateway) as session:
            assert gateway.pid is not None
            os.kill(gateway.pid, signal.SIGTERM)
            error = await session.until("error")
            assert error["error"]["code"] == "shutting_down"
            assert await session.closed() == 1001
    finally:
        assert gateway.stop(already_signalled=True) == 0
