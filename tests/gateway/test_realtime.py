"""Live transcription over `/v1/realtime` with real WebSocket clients, a real gateway and Triton, and the
shared clips streamed at real time: final texts equal a file upload's of the same audio."""

from __future__ import annotations

import asyncio
import base64
import json

import aiohttp
import av
import numpy as np
import pytest
import requests

from devstack.gateway_process import GatewayProcess
from live_client.stream import DEFAULT_TURN_DETECTION, pcm16, stream, websocket_url
from tests.audio_files import JFK_TEXT, normalize
from tests.gateway.realtime import AUTH, append, raw_session, upload_text
from tests.gateway_process import TEST_API_KEY

SILENCE_MS = 500  # OpenAI's default silence_duration_ms


def _cut(samples: np.ndarray, start_ms: int, end_ms: int, rate: int = 16000) -> np.ndarray:
    return samples[start_ms * rate // 1000 : end_ms * rate // 1000]


async def test_server_vad_final_texts_equal_uploads_of_the_same_audio(
    http: aiohttp.ClientSession, gateway: GatewayProcess, librispeech_pcm: dict[str, np.ndarray], jfk_pcm: np.ndarray
) -> None:
    """Every clip streamed at real time, all at once: each utterance the server found, cut from the stream at
    its audio_start_ms/audio_end_ms and uploaded as a file, gets the completed event's text."""
    clips = {"jfk": jfk_pcm, **dict(list(librispeech_pcm.items())[:3])}
    streams = {name: np.concatenate([pcm16(pcm), np.zeros(16000 * 3 // 2, dtype="<i2")]) for name, pcm in clips.items()}
    results = await asyncio.gather(
        *(stream(http, gateway.url, TEST_API_KEY, samples, trailing_silence_ms=0) for samples in streams.values())
    )
    for (name, samples), result in zip(streams.items(), results, strict=True):
        assert not result.errors, (name, result.errors)
        assert result.completed, name
        for utterance in result.completed:
            assert utterance.audio_start_ms is not None and utterance.audio_end_ms is not None
            audio = _cut(samples, utterance.audio_start_ms, utterance.audio_end_ms)
            assert await upload_text(http, gateway, audio, 16000) == utterance.transcript, (name, utterance)
    jfk = normalize(results[0].text)  # cut at its pauses, a word may differ from the whole clip's text
    assert "fellow americans" in jfk and "ask what you can do for your country" in jfk, jfk


async def test_partial_text_comes_while_an_utterance_is_spoken(
    http: aiohttp.ClientSession, gateway: GatewayProcess, librispeech_pcm: dict[str, np.ndarray]
) -> None:
    """The longest clip (17 s), alone at real time: its utterances' deltas arrive before their completed text,
    and the words they agreed on are mostly the final text's."""
    longest = max(librispeech_pcm.values(), key=len)
    result = await stream(http, gateway.url, TEST_API_KEY, pcm16(longest))
    spoken = [u for u in result.completed if u.deltas]
    assert spoken, result.utterances
    for utterance in spoken:
        assert utterance.completed_at is not None and utterance.deltas[-1][0] < utterance.completed_at
        partial, final = normalize(utterance.partial_text).split(), normalize(utterance.transcript or "").split()
        assert len(set(partial) & set(final)) >= len(partial) / 2, (partial, final)


async def test_manual_commit_at_24_khz_equals_the_upload(
    http: aiohttp.ClientSession, gateway: GatewayProcess, jfk_pcm: np.ndarray
) -> None:
    """Turn detection off, OpenAI's 24 kHz: the whole clip in one commit, decoded as the upload of its WAV is."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=24000)
    frame = av.AudioFrame.from_ndarray(pcm16(jfk_pcm).reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = 16000
    samples = np.concatenate(
        [f.to_ndarray().reshape(-1) for f in [*resampler.resample(frame), *resampler.resample(None)]]
    )
    result = await stream(http, gateway.url, TEST_API_KEY, samples, rate=24000, speed=4.0, turn_detection=None)
    assert not result.errors
    [utterance] = result.completed
    assert utterance.transcript == await upload_text(http, gateway, samples, 24000)
    assert normalize(utterance.transcript or "") == normalize(JFK_TEXT)
    assert utterance.deltas, "partial text while the buffer filled"


async def test_events_of_a_server_vad_utterance_in_order(http: aiohttp.ClientSession, gateway: GatewayProcess,
                                                          jfk_pcm: np.ndarray) -> None:  # fmt: skip
    events: list[dict[str, object]] = []
    await stream(http, gateway.url, TEST_API_KEY, pcm16(jfk_pcm[: 16000 * 3]), speed=0, on_event=events.append)
    kinds = [str(event["type"]) for event in events]
    assert kinds[:2] == ["session.created", "session.updated"]
    order = [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.input_audio_transcription.completed",
    ]
    assert [kind for kind in kinds if kind in order][:4] == order
    completed = next(e for e in events if e["type"] == order[-1])
    assert completed["content_index"] == 0 and completed["usage"]["type"] == "duration"  # type: ignore[index]
    assert len({e["event_id"] for e in events}) == len(events)


def _update(audio_input: dict[str, object]) -> str:
    """A GA session.update frame setting `audio_input`."""
    return json.dumps({"type": "session.update", "session": {"type": "transcription", "audio": {"input": audio_input}}})


WAV_AS_AUDIO = json.dumps(
    {"type": "input_audio_buffer.append", "audio": base64.b64encode(b"RIFF\0\0\0\0WAVE").decode()}
)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_event"),
        ('{"type": "no.such.event"}', "unknown_event_type"),
        ('{"type": "response.create"}', "unsupported_event"),
        ('{"type": "input_audio_buffer.append", "audio": "%%%"}', "invalid_base64"),
        ('{"type": "input_audio_buffer.append", "audio": "AAAA"}', "invalid_audio"),  # 3 bytes: not PCM16
        ('{"type": "input_audio_buffer.append", "audio": 5}', "invalid_event"),
        ('{"type": "input_audio_buffer.commit"}', "input_audio_buffer_commit_empty"),
        (WAV_AS_AUDIO, "invalid_audio"),
        (_update({"format": {"type": "audio/pcmu"}}), "unsupported_audio_format"),
        (_update({"format": {"type": "audio/pcm", "rate": 44100}}), "unsupported_audio_format"),
        (_update({"turn_detection": {"type": "semantic_vad"}}), "unsupported_turn_detection"),
        (_update({"turn_detection": {"type": "server_vad", "threshold": 3}}), "invalid_parameter"),
        (_update({"transcription": {"model": "gpt-4o-transcribe"}}), "model_not_found"),
        (_update({"transcription": {"model": "whisper-tiny.en", "language": "de"}}), "unsupported_language"),
        (json.dumps({"type": "session.update", "session": {"type": "realtime"}}), "unsupported_session_type"),
    ],
)
async def test_a_bad_event_gets_an_error_and_the_session_goes_on(
    http: aiohttp.ClientSession, gateway: GatewayProcess, jfk_pcm: np.ndarray, frame: str, code: str
) -> None:
    async with raw_session(http, gateway) as session:
        await session.ws.send_str(frame)
        error = await session.until("error")
        assert error["error"]["code"] == code, error
        assert error["error"]["message"]
        await session.send({"type": "input_audio_buffer.clear", "event_id": "mine"})
        await session.until("input_audio_buffer.cleared")
        await session.send(append(pcm16(jfk_pcm[: 16000 * 3])))
        await session.send({"type": "input_audio_buffer.commit"})
        completed = await session.until("conversation.item.input_audio_transcription.completed")
        assert "fellow americans" in normalize(completed["transcript"])


async def test_an_error_names_the_client_event_id(http: aiohttp.ClientSession, gateway: GatewayProcess) -> None:
    async with raw_session(http, gateway) as session:
        await session.send({"type": "input_audio_buffer.commit", "event_id": "evt_42"})
        error = await session.until("error")
        assert error["error"]["event_id"] == "evt_42"


async def test_a_binary_frame_gets_an_error(http: aiohttp.ClientSession, gateway: GatewayProcess) -> None:
    async with raw_session(http, gateway) as session:
        await session.ws.send_bytes(b"\x00\x01" * 100)
        assert (await session.until("error"))["error"]["code"] == "invalid_frame"


async def test_an_oversized_frame_closes_with_1009(http: aiohttp.ClientSession, gateway: GatewayProcess) -> None:
    async with raw_session(http, gateway) as session:
        await session.send(append(np.zeros(3_000_000, dtype="<i2")))  # 8 MB as base64: more than sockets buffer
        assert await session.closed() == 1009


async def test_beta_dialect_names_its_events(http: aiohttp.ClientSession, gateway: GatewayProcess) -> None:
    headers = {**AUTH, "OpenAI-Beta": "realtime=v1"}
    async with http.ws_connect(f"{websocket_url(gateway.url)}?intent=transcription", headers=headers) as ws:
        created = json.loads((await ws.receive(timeout=30)).data)
        assert created["type"] == "transcription_session.created"
        assert created["session"]["input_audio_format"] == "pcm16"
        update = {"input_audio_transcription": {"model": "whisper-1", "language": "en"}, "turn_detection": None}
        await ws.send_str(json.dumps({"type": "transcription_session.update", "session": update}))
        updated = json.loads((await ws.receive(timeout=30)).data)
        assert updated["type"] == "transcription_session.updated"
        assert updated["session"]["turn_detection"] is None
        assert updated["session"]["input_audio_transcription"]["language"] == "en"


def test_the_handshake_needs_a_key(gateway: GatewayProcess) -> None:
    url = f"{gateway.url}/v1/realtime"
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": base64.b64encode(b"0123456789abcdef").decode()}  # fmt: skip
    assert requests.get(url, headers=upgrade, timeout=10).status_code == 401
    wrong = {**upgrade, "Sec-WebSocket-Protocol": "realtime, openai-insecure-api-key.wrong"}
    assert requests.get(url, headers=wrong, timeout=10).status_code == 401
    right = {**upgrade, "Sec-WebSocket-Protocol": f"realtime, openai-insecure-api-key.{TEST_API_KEY}"}
    answer = requests.get(url, headers=right, timeout=10, stream=True)
    assert answer.status_code == 101 and answer.headers["Sec-WebSocket-Protocol"] == "realtime"
    answer.close()
    plain = requests.get(url, headers=AUTH, timeout=10)
    assert plain.status_code == 400 and plain.json()["error"]["code"] == "websocket_required"
    missing = requests.get(f"{url}?model=gpt-4o-transcribe", headers={**AUTH, **upgrade}, timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


async def test_metrics_count_sessions_audio_and_completions(
    http: aiohttp.ClientSession, gateway: GatewayProcess, jfk_pcm: np.ndarray
) -> None:
    def sample(text: str, name: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))

    before = requests.get(f"{gateway.url}/metrics", headers=AUTH, timeout=10).text
    turn_detection = {**DEFAULT_TURN_DETECTION, "silence_duration_ms": SILENCE_MS}
    result = await stream(http, gateway.url, TEST_API_KEY, pcm16(jfk_pcm[: 16000 * 3]), speed=0,
                          turn_detection=turn_detection)  # fmt: skip
    assert result.completed
    closed = 'dattavani_realtime_sessions_total{outcome="client_closed"}'
    async with asyncio.timeout(30):  # the session's end is counted once its handler returns
        while sample(after := requests.get(f"{gateway.url}/metrics", headers=AUTH, timeout=10).text, closed) <= sample(
            before, closed
        ):
            await asyncio.sleep(0.1)
    assert sample(after, "dattavani_realtime_audio_received_seconds_total") - sample(
        before, "dattavani_realtime_audio_received_seconds_total"
    ) == pytest.approx(3.0 + 1.5, abs=0.01)
    assert sample(after, 'dattavani_realtime_sessions_total{outcome="client_closed"}') > sample(
        before, 'dattavani_realtime_sessions_total{outcome="client_closed"}'
    )
    assert sample(after, "dattavani_realtime_completion_seconds_count") > sample(
        before, "dattavani_realtime_completion_seconds_count"
    )
    assert "dattavani_realtime_sessions_open 0.0" in after
