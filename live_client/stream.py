"""Stream audio to `/v1/realtime` as a live source would, and collect what comes back, with the time
each event arrived (monotonic seconds), so that latencies can be read from the result.

The audio goes out as 16 kHz PCM16 in `chunk_ms` pieces, paced at `speed` times real time (0: as fast
as the socket takes it), followed by `trailing_silence_ms` of silence (server_vad hears the speech end)
or a commit (turn detection off). The stream ends once every committed utterance has its text.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np

RATE = 16000  # what this client sends unless told otherwise (the gateway also takes 24 kHz)
DEFAULT_TURN_DETECTION: dict[str, Any] = {"type": "server_vad"}
KEY_SUBPROTOCOL = "openai-insecure-api-key."


@dataclass
class Utterance:
    item_id: str
    audio_start_ms: int | None = None
    audio_end_ms: int | None = None
    deltas: list[tuple[float, str]] = field(default_factory=list)  # (arrived at, delta)
    transcript: str | None = None
    completed_at: float | None = None
    failed: dict[str, Any] | None = None

    @property
    def partial_text(self) -> str:
        return "".join(delta for _, delta in self.deltas)


@dataclass
class StreamResult:
    started_at: float  # monotonic time the first audio was sent: audio at ms X was sent at started_at + X/1000/speed
    speed: float
    utterances: dict[str, Utterance] = field(default_factory=dict)  # in the order they appeared
    errors: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None

    @property
    def completed(self) -> list[Utterance]:
        return [u for u in self.utterances.values() if u.transcript is not None]

    @property
    def text(self) -> str:
        return " ".join(u.transcript.strip() for u in self.completed if u.transcript and u.transcript.strip())

    def sent_at(self, audio_ms: float) -> float:
        """When the audio at `audio_ms` was sent (paced streams only)."""
        return self.started_at + audio_ms / 1000 / self.speed


def websocket_url(base_url: str, model: str | None = None) -> str:
    url = base_url.rstrip("/").replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/v1/realtime"
    return f"{url}?model={model}" if model else url


def session_update(turn_detection: dict[str, Any] | None, model: str | None, language: str | None,
                   prompt: str | None, rate: int = RATE) -> dict[str, Any]:  # fmt: skip
    """A GA `session.update` for PCM16 at `rate` and these transcription settings."""
    transcription = {key: value for key, value in (("model", model), ("language", language), ("prompt", prompt))
                     if value is not None}  # fmt: skip
    return {
        "type": "session.update",
        "session": {
            "type": "transcription",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": rate},
                    "transcription": transcription,
                    "turn_detection": turn_detection,
                }
            },
        },
    }


def pcm16(pcm: np.ndarray) -> np.ndarray:
    """Float PCM in [-1, 1] as 16-bit samples."""
    return np.clip(np.round(np.asarray(pcm, dtype=np.float64) * 32768.0), -32768, 32767).astype("<i2")


async def stream(
    http: aiohttp.ClientSession,
    base_url: str,
    key: str,
    samples: np.ndarray,
    *,
    rate: int = RATE,
    speed: float = 1.0,
    chunk_ms: int = 100,
    turn_detection: dict[str, Any] | None = DEFAULT_TURN_DETECTION,
    model: str | None = None,
    language: str | None = None,
    prompt: str | None = None,
    trailing_silence_ms: int = 1500,
    timeout_s: float = 120.0,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> StreamResult:
    """Stream PCM16 `samples` at `rate` to the gateway at `base_url`; what came back."""
    chunk = rate * chunk_ms // 1000
    tail = np.zeros(rate * trailing_silence_ms // 1000 if turn_detection else 0, dtype="<i2")
    audio = np.concatenate([np.asarray(samples, dtype="<i2"), tail])
    headers = {"Authorization": f"Bearer {key}"}
    async with http.ws_connect(websocket_url(base_url, model), headers=headers, protocols=("realtime",),
                               max_msg_size=0) as ws:  # fmt: skip
        result = StreamResult(started_at=time.monotonic(), speed=speed or 1.0)
        sent_all = asyncio.Event()

        async def send() -> None:
            await ws.send_str(json.dumps(session_update(turn_detection, model, language, prompt, rate)))
            result.started_at = time.monotonic()
            for index, first in enumerate(range(0, audio.size, chunk)):
                if speed:
                    await asyncio.sleep(
                        max(0.0, result.started_at + index * chunk_ms / 1000 / speed - time.monotonic())
                    )
                piece = audio[first : first + chunk].tobytes()
                await ws.send_str(json.dumps({"type": "input_audio_buffer.append",
                                              "audio": base64.b64encode(piece).decode()}))  # fmt: skip
            if turn_detection is None:
                await ws.send_str(json.dumps({"type": "input_audio_buffer.commit"}))
            sent_all.set()
            if _settled(result):  # everything came back while the tail was going out
                await ws.close()

        sender = asyncio.create_task(send())
        try:
            async with asyncio.timeout(timeout_s):
                async for message in ws:
                    if message.type != aiohttp.WSMsgType.TEXT:
                        break
                    event = json.loads(message.data)
                    if on_event is not None:
                        on_event(event)
                    _record(result, event, time.monotonic())
                    if sent_all.is_set() and _settled(result):
                        break
        finally:
            sender.cancel()
        result.close_code = ws.close_code
        return result


def _record(result: StreamResult, event: dict[str, Any], at: float) -> None:
    kind = event.get("type", "")
    if kind == "error":
        result.errors.append(event["error"])
        return
    item_id = event.get("item_id")
    if not isinstance(item_id, str):
        return
    utterance = result.utterances.setdefault(item_id, Utterance(item_id))
    if kind == "input_audio_buffer.speech_started":
        utterance.audio_start_ms = event["audio_start_ms"]
    elif kind == "input_audio_buffer.speech_stopped":
        utterance.audio_end_ms = event["audio_end_ms"]
    elif kind == "conversation.item.input_audio_transcription.delta":
        utterance.deltas.append((at, event["delta"]))
    elif kind == "conversation.item.input_audio_transcription.completed":
        utterance.transcript, utterance.completed_at = event["transcript"], at
    elif kind == "conversation.item.input_audio_transcription.failed":
        utterance.failed = event["error"]


def _settled(result: StreamResult) -> bool:
    """Every utterance seen has its text (or has failed), and at least one was committed."""
    return bool(result.utterances) and all(
        u.transcript is not None or u.failed is not None for u in result.utterances.values()
    )
