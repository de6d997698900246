"""Audio constants of Whisper and helpers for 16 kHz mono float32 PCM."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

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

SAMPLE_RATE = 16000
N_FFT = 400
HOP_LENGTH = 160
CHUNK_LENGTH = 30  # seconds in one Whisper window
N_SAMPLES = CHUNK_LENGTH * SAMPLE_RATE  # 480000 samples in a window
N_FRAMES = N_SAMPLES // HOP_LENGTH  # 3000 mel frames in a window


def validate_pcm(pcm: np.ndarray, max_samples: int | None = N_SAMPLES) -> np.ndarray:
    """Return `pcm` as contiguous float32 mono, or raise the InvalidAudioError that fits (None: any length)."""
    samples = np.ascontiguousarray(pcm, dtype=np.float32).reshape(-1)
    if samples.size == 0:
        raise EmptyAudioError("audio contains no samples")
    if max_samples is not None and samples.size > max_samples:
        raise AudioTooLongError(
            f"audio has {samples.size / SAMPLE_RATE:.2f} s; at most {max_samples / SAMPLE_RATE:.2f} s allowed"
        )
    if not np.isfinite(samples).all():
        raise NonFiniteAudioError("audio contains NaN or infinite samples")
    return samples


def pad_or_trim(pcm: np.ndarray, length: int = N_SAMPLES) -> np.ndarray:
    """Zero-pad or cut `pcm` (last axis) to exactly `length` samples."""
    if pcm.shape[-1] > length:
        return pcm[..., :length]
    widths = [(0, 0)] * (pcm.ndim - 1) + [(0, length - pcm.shape[-1])]
    return np.pad(pcm, widths)


@dataclass(frozen=True)
class DecodeLimits:
    """Bounds on decoding one file: audio length and wall time (None: unbounded)."""

    max_seconds: float | None = None
    timeout_s: float | None = None


# A file decodes as truncated when it yields less than this share of its declared length and
# at least TRUNCATION_MIN_MISSING_S less (declared lengths of some formats are estimates).
TRUNCATION_RATIO = 0.8
# Sample rates accepted from uploads: from telephony's low end to the highest studio rate.
MIN_SOURCE_RATE = 1000
MAX_SOURCE_RATE = 768_000
TRUNCATION_MIN_MISSING_S = 1.0


def declared_seconds(container: av.container.InputContainer) -> float | None:
    """The duration the container declares, if it declares one."""
    return container.duration / av.time_base if container.duration and container.duration > 0 else None


def decode_audio(source: str | Path | BinaryIO, limits: DecodeLimits | None = None) -> np.ndarray:
    """Decode any audio FFmpeg reads into 16 kHz mono float32 PCM (downmixed, resampled).

    Limits are enforced while decoding: a small file that declares or yields hours of audio
    is refused as soon as it passes `max_seconds`, and a slow decode after `timeout_s`.
    """
    limits = limits or DecodeLimits()
    deadline = None if limits.timeout_s is None else time.monotonic() + limits.timeout_s
    max_samples = None if limits.max_seconds is None else int(limits.max_seconds * SAMPLE_RATE)
    target = str(source) if isinstance(source, str | Path) else source
    try:
        # Tags are not our business: undecodable metadata must not make good audio unreadable.
        container = av.open(target, mode="r", metadata_errors="replace")
    except av.FFmpegError as exc:
        raise NotAudioError("the file is not an audio or video format FFmpeg can read") from exc
    with container:
        if not container.streams.audio:
            raise NotAudioError("the file contains no audio stream")
        stream = container.streams.audio[0]
        if stream.codec_context is None:
            raise UnsupportedCodecError("the audio codec of the file is not supported")
        declared = declared_seconds(container)
        if declared is not None and limits.max_seconds is not None and declared > limits.max_seconds:
            raise AudioTooLongError(f"audio lasts {declared:.1f} s; at most {limits.max_seconds:.1f} s allowed")
        pcm = _decode_stream(container, stream, max_samples, deadline, limits)
    if pcm.size == 0:
        raise EmptyAudioError("the file contains no audio samples")
    decoded = pcm.size / SAMPLE_RATE
    if declared is not None and decoded < TRUNCATION_RATIO * declared and declared - decoded > TRUNCATION_MIN_MISSING_S:
        raise TruncatedAudioError(f"only {decoded:.1f} s of the declared {declared:.1f} s of audio could be decoded")
    return pcm


def _check_sample_rate(rate: int) -> None:
    """Refuse rates no real audio has: resampling from them takes minutes (a 48-byte WAV can declare 1.4 GHz)."""
    if not MIN_SOURCE_RATE <= rate <= MAX_SOURCE_RATE:
        raise UnsupportedCodecError(f"a sample rate of {rate} Hz is outside {MIN_SOURCE_RATE}-{MAX_SOURCE_RATE} Hz")


def new_resampler() -> av.AudioResampler:
    """A resampler to 16 kHz mono float32, the one every decoded upload goes through."""
    return av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)


class _PcmChunks:
    """Resampled PCM as it is decoded, checked against the length limit and the deadline after every addition."""

    def __init__(self, max_samples: int | None, deadline: float | None, limits: DecodeLimits) -> None:
        self._max_samples, self._deadline, self._limits = max_samples, deadline, limits
        self._chunks: list[np.ndarray] = []
        self.total = 0

    def add(self, frames: list[av.AudioFrame]) -> None:
        for frame in frames:
            self._chunks.append(frame.to_ndarray().reshape(-1))
            self.total += self._chunks[-1].size
        if self._max_samples is not None and self.total > self._max_samples:
            raise AudioTooLongError(f"audio is longer than the {self._limits.max_seconds:.1f} s allowed")
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise DecodeTimeoutError(f"decoding took longer than {self._limits.timeout_s:.1f} s")

    def array(self) -> np.ndarray:
        return np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.float32)


def _decode_stream(
    container: av.container.InputContainer,
    stream: av.AudioStream,
    max_samples: int | None,
    deadline: float | None,
    limits: DecodeLimits,
) -> np.ndarray:
    pcm = _PcmChunks(max_samples, deadline, limits)
    resampler = new_resampler()
    frame_shape: tuple[str, str, int] | None = None
    try:
        for frame in container.decode(stream):
            shape = (frame.format.name, frame.layout.name, frame.sample_rate)
            if shape != frame_shape:
                _check_sample_rate(frame.sample_rate)
                if frame_shape is not None:  # e.g. concatenated files: a new resampler for the new format
                    pcm.add(resampler.resample(None))
                    resampler = new_resampler()
                frame_shape = shape
            pcm.add(resampler.resample(frame))
        pcm.add(resampler.resample(None))
    except av.FFmpegError as exc:
        raise CorruptAudioError(f"the audio is corrupt: decoding failed after {pcm.total / SAMPLE_RATE:.1f} s") from exc
    return pcm.array()
