"""The official `openai` SDK's realtime client, unmodified, runs a transcription session on the gateway."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import numpy as np
from openai import AsyncOpenAI

from devstack.gateway_process import GatewayProcess
from live_client.stream import pcm16
from tests.audio_files import JFK_TEXT, normalize
from tests.gateway.realtime import upload_text
from tests.gateway_process import TEST_API_KEY

CHUNK = 16000 // 10  # 100 ms


async def test_a_transcription_session_through_the_sdk(gateway: GatewayProcess, jfk_pcm: np.ndarray) -> None:
    client = AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=TEST_API_KEY, max_retries=0)
    samples = pcm16(jfk_pcm)
    async with client.realtime.connect(model="whisper-1", extra_query={"intent": "transcription"}) as connection:
        created = await connection.recv()
        assert created.type == "session.created"
        # 16 kHz is the gateway's own addition to OpenAI's formats (the SDK's types name 24 kHz only)
        session: Any = {
            "type": "transcription",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 16000},
                    "transcription": {"model": "whisper-1", "language": "en"},
                    "turn_detection": None,
                }
            },
        }
        await connection.session.update(session=session)
        updated = await connection.recv()
        assert updated.type == "session.updated"
        for first in range(0, samples.size, CHUNK):
            await connection.input_audio_buffer.append(
                audio=base64.b64encode(samples[first : first + CHUNK].tobytes()).decode()
            )
        await connection.input_audio_buffer.commit()
        kinds = []
        async for event in connection:
            kinds.append(event.type)
            if event.type == "conversation.item.input_audio_transcription.completed":
                transcript = event.transcript
                break
    assert "input_audio_buffer.committed" in kinds
    assert normalize(transcript) == normalize(JFK_TEXT)
    async with aiohttp.ClientSession() as http:
        assert transcript == await upload_text(http, gateway, samples, 16000)
