"""PCM validation and decoding raise typed errors that callers map onto their protocol."""

from __future__ import annotations

import io

import numpy as np
import pytest

from tests.audio_files import JFK
from whisper_runtime.audio import N_SAMPLES, SAMPLE_RATE, decode_audio, validate_pcm
from whisper_runtime.errors import AudioTooLongError, EmptyAudioError, NonFiniteAudioError, UndecodableAudioError


def test_decode_audio_downmixes_and_resamples_to_16k_mono() -> None:
    pcm = decode_audio(JFK)  # 44.1 kHz stereo source
    assert pcm.dtype == np.float32
    assert pcm.ndim == 1
    assert abs(len(pcm) / SAMPLE_RATE - 11.0) < 0.01


def test_decode_audio_reads_file_objects_like_paths() -> None:
    np.testing.assert_array_equal(decode_audio(io.BytesIO(JFK.read_bytes())), decode_audio(JFK))


@pytest.mark.parametrize("payload", [b"", b"not audio at all", JFK.read_bytes()[:100]])
def test_decode_audio_rejects_what_is_not_audio(payload: bytes) -> None:
    with pytest.raises(UndecodableAudioError):
        decode_audio(io.BytesIO(payload))


def test_validate_pcm_accepts_float_clips_and_returns_contiguous_float32() -> None:
    pcm = validate_pcm(np.zeros((1, 16000), dtype=np.float64))
    assert pcm.dtype == np.float32
    assert pcm.shape == (16000,)


@pytest.mark.parametrize(
    ("pcm", "error"),
    [
        (np.zeros(0, dtype=np.float32), EmptyAudioError),
        (np.array([0.0, np.nan], dtype=np.float32), NonFiniteAudioError),
        (np.array([np.inf] * 10, dtype=np.float32), NonFiniteAudioError),
        (np.zeros(N_SAMPLES + 1, dtype=np.float32), AudioTooLongError),
    ],
)
def test_validate_pcm_rejects_unusable_audio(pcm: np.ndarray, error: type[Exception]) -> None:
    with pytest.raises(error):
        validate_pcm(pcm)
