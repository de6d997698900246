"""Decoding any container to 16 kHz mono PCM, with typed errors for every kind of bad file."""

from __future__ import annotations

import io

import numpy as np
import pytest

from fuzzing.synthesis import UPLOAD_FORMATS, WAVE_UNKNOWN_CODEC, encode, encode_format, mp3_declaring, silent_mp3, wav
from tests.audio_files import JFK
from whisper_runtime.audio import N_SAMPLES, SAMPLE_RATE, DecodeLimits, decode_audio, validate_pcm
from whisper_runtime.errors import (
    AudioTooLongError,
    CorruptAudioError,
    DecodeTimeoutError,
    EmptyAudioError,
    NonFiniteAudioError,
    NotAudioError,
    TruncatedAudioError,
    UnsupportedCodecError,
)


def _decode(payload: bytes, limits: DecodeLimits | None = None) -> np.ndarray:
    return decode_audio(io.BytesIO(payload), limits)


def test_decode_audio_downmixes_and_resamples_to_16k_mono() -> None:
    pcm = decode_audio(JFK)  # 44.1 kHz stereo source
    assert pcm.dtype == np.float32
    assert pcm.ndim == 1
    assert abs(len(pcm) / SAMPLE_RATE - 11.0) < 0.01


def test_decode_audio_reads_file_objects_like_paths() -> None:
    np.testing.assert_array_equal(_decode(JFK.read_bytes()), decode_audio(JFK))


@pytest.mark.parametrize("name", list(UPLOAD_FORMATS))
def test_every_common_format_decodes_to_the_same_length(jfk_pcm: np.ndarray, name: str) -> None:
    decoded = _decode(encode_format(jfk_pcm, name))
    assert abs(len(decoded) - len(jfk_pcm)) < 0.1 * SAMPLE_RATE  # codec priming may add a few ms


def test_stereo_48k_is_downmixed(jfk_pcm: np.ndarray) -> None:
    decoded = _decode(encode(jfk_pcm, "wav", "pcm_s16le", rate=48000, channels=2))
    assert abs(len(decoded) - len(jfk_pcm)) < 0.01 * SAMPLE_RATE
    assert np.corrcoef(decoded[: len(jfk_pcm) - 100], jfk_pcm[: len(jfk_pcm) - 100])[0, 1] > 0.99


@pytest.mark.parametrize("payload", [b"", b"not audio at all", b"\x89PNG\r\n\x1a\n" + b"\0" * 100])
def test_what_is_not_audio_is_refused(payload: bytes) -> None:
    with pytest.raises(NotAudioError):
        _decode(payload)


def test_an_unknown_codec_is_refused() -> None:
    with pytest.raises(UnsupportedCodecError):
        _decode(wav(bytes(2 * SAMPLE_RATE), format_tag=WAVE_UNKNOWN_CODEC))


def test_a_flac_cut_in_the_middle_is_corrupt(jfk_pcm: np.ndarray) -> None:
    flac = encode_format(jfk_pcm, "flac")
    with pytest.raises(CorruptAudioError):
        _decode(flac[: len(flac) // 2])


def test_an_mp3_cut_in_the_middle_is_truncated(jfk_pcm: np.ndarray) -> None:
    mp3 = encode_format(jfk_pcm, "mp3")
    with pytest.raises(TruncatedAudioError):
        _decode(mp3[: len(mp3) // 2])


def test_a_file_declaring_too_much_audio_is_refused_before_decoding() -> None:
    ten_minutes = silent_mp3(600)
    with pytest.raises(AudioTooLongError, match=r"audio lasts 600\.0 s"):  # the declared length, not decoded
        _decode(ten_minutes, DecodeLimits(max_seconds=30))


def test_too_much_audio_is_refused_while_decoding_when_the_header_understates_it(jfk_pcm: np.ndarray) -> None:
    forty_four_seconds_claiming_eleven = mp3_declaring(np.tile(jfk_pcm, 4), 0.25)
    with pytest.raises(AudioTooLongError, match="longer than"):
        _decode(forty_four_seconds_claiming_eleven, DecodeLimits(max_seconds=30))


def test_a_decode_past_its_deadline_is_stopped(jfk_pcm: np.ndarray) -> None:
    with pytest.raises(DecodeTimeoutError):
        _decode(encode_format(jfk_pcm, "mp3"), DecodeLimits(timeout_s=0.0))


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
