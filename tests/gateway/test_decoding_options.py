"""Word timestamps and temperature through the real gateway, on Triton and on the CPU fallback alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from openai import OpenAI

from devstack.gateway_process import GatewayProcess
from fuzzing.synthesis import s16, wav
from tests.audio_files import JFK, JFK_TEXT, normalize
from tests.gateway.http import post_audio
from tests.gateway_process import TEST_API_KEY
from whisper_runtime.audio import decode_audio
from whisper_runtime.engine import EngineOptions, load_encoder, load_token_decoder
from whisper_runtime.model_files import ModelFiles
from whisper_runtime.quality import compression_ratio
from whisper_runtime.repository import DEFAULT_MODEL

VERBOSE_WORDS = {"response_format": "verbose_json", "timestamp_granularities[]": "word"}


def slowed_jfk(factor: float = 0.4) -> np.ndarray:
    """jfk.flac played at `factor` of its speed (27.5 s at 0.4): greedy decoding loops on it ("hoo hoo hoo ...")
    on both models, in both precisions."""
    pcm = decode_audio(JFK)
    samples = int(pcm.size / factor)
    return np.interp(np.arange(samples) * factor, np.arange(pcm.size), pcm).astype(np.float32)


def _verbose(gateway: GatewayProcess, audio: bytes, **fields: str) -> dict[str, Any]:
    response = post_audio(gateway, audio, "audio.wav", {"response_format": "verbose_json", **fields})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_the_sdk_reads_words_and_segments_together(gateway: GatewayProcess) -> None:
    client = OpenAI(base_url=f"{gateway.url}/v1", api_key=TEST_API_KEY, max_retries=0, timeout=120)
    with JFK.open("rb") as audio:
        result = client.audio.transcriptions.create(
            model="whisper-1", file=audio, response_format="verbose_json", timestamp_granularities=["word", "segment"]
        )
    assert normalize(" ".join(word.word for word in result.words or ())) == normalize(JFK_TEXT)
    assert result.segments and all(segment.avg_logprob < 0 for segment in result.segments)
    starts = [word.start for word in result.words or ()]
    assert starts == sorted(starts) and all(word.start <= word.end for word in result.words or ())
    for segment in result.segments:
        inside = [w for w in result.words or () if segment.start <= w.start < segment.end]
        assert inside and all(w.end <= segment.end for w in inside), segment


def test_words_are_the_same_on_triton_and_on_the_fallback(
    gateway: GatewayProcess, fallback_gateway: GatewayProcess
) -> None:
    audio = JFK.read_bytes()
    triton, fallback = (
        _verbose(g, audio, **{"timestamp_granularities[]": "word"}) for g in (gateway, fallback_gateway)
    )
    assert triton["words"] == fallback["words"] and triton["segments"] == fallback["segments"]
    assert len(triton["words"]) == len(JFK_TEXT.split())


def test_without_the_word_granularity_there_are_no_words(gateway: GatewayProcess) -> None:
    assert "words" not in _verbose(gateway, JFK.read_bytes())


def test_a_multilingual_model_times_its_words(gateway: GatewayProcess) -> None:
    answer = _verbose(gateway, JFK.read_bytes(), model="whisper-base", **{"timestamp_granularities[]": "word"})
    starts = [word["start"] for word in answer["words"]]
    assert starts == sorted(starts) and normalize(" ".join(w["word"] for w in answer["words"])) == normalize(JFK_TEXT)


@pytest.fixture(scope="module")
def looping_audio() -> bytes:
    return wav(s16(slowed_jfk()))


def _greedy_text(model_files: Callable[[str], ModelFiles], pcm: np.ndarray) -> str:
    """What greedy decoding alone (no fallback) makes of one window, in-process."""
    files, options = model_files(DEFAULT_MODEL), EngineOptions()
    encoder, tokens = load_encoder(files, options), load_token_decoder(files, options)
    prompt = tokens.prompts.build(timestamps=True)
    (result,) = tokens.decode(encoder.encode(encoder.features([pcm])), prompts=[prompt])
    return result.text


def test_the_temperature_fallback_breaks_a_repetition_loop_alike_on_triton_and_the_fallback(
    gateway: GatewayProcess,
    fallback_gateway: GatewayProcess,
    looping_audio: bytes,
    model_files: Callable[[str], ModelFiles],
) -> None:
    greedy = _greedy_text(model_files, slowed_jfk())
    assert compression_ratio(greedy) > 2.4, greedy  # the input really makes greedy decoding loop
    triton, fallback = (_verbose(g, looping_audio) for g in (gateway, fallback_gateway))
    assert triton["text"] == fallback["text"] and triton["segments"] == fallback["segments"]
    assert all(segment["temperature"] > 0 for segment in triton["segments"])
    assert compression_ratio(triton["text"]) < compression_ratio(greedy)
    print(f"greedy {compression_ratio(greedy):.1f}: {greedy[:80]!r}; fallback: {triton['text'][:80]!r}")


def test_a_sampled_request_gives_the_same_text_for_the_same_seed(
    gateway: GatewayProcess, fallback_gateway: GatewayProcess
) -> None:
    audio = JFK.read_bytes()
    first, again = (_verbose(gateway, audio, temperature="0.5", seed="7") for _ in range(2))
    on_fallback = _verbose(fallback_gateway, audio, temperature="0.5", seed="7")
    assert first["text"] == again["text"] == on_fallback["text"]
    assert all(segment["temperature"] >= 0.5 for segment in first["segments"])
