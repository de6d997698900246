"""A real Triton serving our export transcribes real speech, over HTTP and gRPC, like the in-process engine."""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from perf.datasets import Clip
from tests.audio_files import AUDIO_DIR, JFK_TEXT, ONE_PER_LANGUAGE, normalize
from tests.conftest import BASE
from tests.triton_server.triton_requests import grpc_infer, http_transcribe
from triton_server.client import decode_window
from triton_server.launcher import TritonServer
from whisper_runtime.audio import HOP_LENGTH, decode_audio
from whisper_runtime.decoding import DecodingResult
from whisper_runtime.engine import WhisperEngine
from whisper_runtime.repository import Precision
from whisper_runtime.transcription import TranscriptionOptions, Window, transcribe
from whisper_runtime.window_decoder import WindowRequest

VOXPOPULI = AUDIO_DIR / "eval" / "long" / "voxpopuli-en-000.ogg"


def test_jfk_over_http(served: TritonServer, jfk_pcm: np.ndarray) -> None:
    assert normalize(http_transcribe(served, jfk_pcm)) == normalize(JFK_TEXT)


def test_jfk_over_grpc(served: TritonServer, jfk_pcm: np.ndarray) -> None:
    (text,) = grpc_infer(served, {"WAV": jfk_pcm[None, :]}).reshape(-1)
    assert normalize(text.decode()) == normalize(JFK_TEXT)


def test_padded_rows_with_lengths_are_transcribed_separately(served: TritonServer, jfk_pcm: np.ndarray) -> None:
    short = jfk_pcm[: len(jfk_pcm) // 2]
    wav = np.zeros((2, len(jfk_pcm)), dtype=np.float32)
    wav[0], wav[1, : len(short)] = jfk_pcm, short
    lengths = np.array([[len(jfk_pcm)], [len(short)]], dtype=np.int32)
    texts = [t.decode() for t in grpc_infer(served, {"WAV": wav, "WAV_LENS": lengths}).reshape(-1)]
    assert normalize(texts[0]) == normalize(JFK_TEXT)
    assert normalize(JFK_TEXT).startswith(normalize(texts[1])[:20])
    assert len(texts[1]) < len(texts[0])


@pytest.mark.parametrize(
    ("server_fixture", "precision"), [("triton", "int8"), ("triton_fp32", "fp32"), ("triton_pipeline", "int8")]
)
def test_librispeech_through_triton_equals_the_in_process_decode(
    request: pytest.FixtureRequest,
    engine_for: Callable[[Precision], WhisperEngine],
    librispeech_pcm: dict[str, np.ndarray],
    server_fixture: str,
    precision: Precision,
) -> None:
    # One request at a time: int8 dynamic quantization scales activations per batch, so the
    # words match the in-process decode exactly only for the same batch composition.
    server: TritonServer = request.getfixturevalue(server_fixture)
    engine = engine_for(precision)
    for name, pcm in librispeech_pcm.items():
        (expected,) = engine.decode_batch([pcm])
        assert http_transcribe(server, pcm) == expected.text, name


def test_a_long_recording_window_by_window_through_triton_equals_the_in_process_segments(
    triton: TritonServer, engine_for: Callable[[Precision], WhisperEngine]
) -> None:
    pcm = decode_audio(VOXPOPULI)
    engine = engine_for("int8")
    with grpcclient.InferenceServerClient(triton.settings.grpc_url) as client:
        segments = list(
            transcribe(pcm, engine.tokenizer, lambda window: decode_window(client, window), TranscriptionOptions())
        )
    assert len(segments) > 5
    assert segments == engine.transcribe(pcm)


@functools.cache
def _decoded_in_process(engine: WhisperEngine, clip: Clip) -> DecodingResult:
    """`clip` decoded in this process (once for both profiles)."""
    (result,) = engine.decode_batch([decode_audio(clip.path)])
    return result


def test_multilingual_clips_through_triton_equal_the_in_process_decode(
    served: TritonServer, engine_for: Callable[..., WhisperEngine]
) -> None:
    """Whisper base in either profile: the language detected and the text decoded, as in this process."""
    engine = engine_for("int8", BASE)
    with grpcclient.InferenceServerClient(served.settings.grpc_url) as client:
        for clip in ONE_PER_LANGUAGE:
            pcm = decode_audio(clip.path)
            expected = _decoded_in_process(engine, clip)
            frames = pcm.size // HOP_LENGTH
            window = Window(0, frames, pcm, WindowRequest(engine.prompts.default, frames=frames))
            assert decode_window(client, window, BASE) == expected, clip.id
            assert expected.language == clip.language, clip.id


@pytest.mark.parametrize("server_fixture", ["triton", "triton_pipeline"])
def test_words_and_sampling_through_either_profile_equal_the_in_process_segments(
    request: pytest.FixtureRequest,
    engine_for: Callable[[Precision], WhisperEngine],
    jfk_pcm: np.ndarray,
    server_fixture: str,
) -> None:
    """The per-row settings cross both profiles (the pipeline's decoder reads WAV_LENS for the word times)."""
    server: TritonServer = request.getfixturevalue(server_fixture)
    engine = engine_for("int8")
    options = TranscriptionOptions(word_timestamps=True, temperature=0.4, seed=3)
    with grpcclient.InferenceServerClient(server.settings.grpc_url) as client:
        segments = list(transcribe(jfk_pcm, engine.tokenizer, lambda window: decode_window(client, window), options))
    assert segments == engine.transcribe(jfk_pcm, options)
    assert all(segment.words and segment.temperature >= 0.4 for segment in segments)


@pytest.mark.parametrize("server_fixture", ["triton", "triton_pipeline"])
def test_partial_hypotheses_and_whole_windows_sent_together_equal_the_in_process_decode(
    request: pytest.FixtureRequest, engine_for: Callable[[Precision], WhisperEngine], jfk_pcm: np.ndarray,
    server_fixture: str,
) -> None:  # fmt: skip
    """Partial rows (shorter encoder contexts, no fallback) and a whole window, sent at once, each get what the
    in-process engine gives them: the pipeline encodes and decodes each width as its own batch.

    The three windows differ in width (10 s, 12 s, 30 s), so each runs alone whatever the dynamic batchers merge:
    int8 dynamic quantization scales activations per batch, so two rows of one width merged on the server would
    match the in-process decode only in their tokens."""
    server: TritonServer = request.getfixturevalue(server_fixture)
    engine = engine_for("int8")
    prompt = engine.prompts.default
    windows = [
        Window(0, -(-seconds * 16000 // HOP_LENGTH), jfk_pcm[: seconds * 16000], WindowRequest(prompt, partial=partial))
        for seconds, partial in ((3, True), (11, True), (3, False))
    ]
    assert len({engine.window(window.pcm, window.request.partial).shape[-1] for window in windows}) == len(windows)
    with grpcclient.InferenceServerClient(server.settings.grpc_url) as client, ThreadPoolExecutor(len(windows)) as pool:
        served = list(pool.map(lambda window: decode_window(client, window), windows))
    assert served == [engine.decode_window(window) for window in windows]
    assert normalize(served[1].text).startswith("and so my fellow americans")
