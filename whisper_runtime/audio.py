"""Audio constants of Whisper and helpers for 16 kHz mono float32 PCM."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from whisper_runtime.errors import AudioTooLongError, EmptyAudioError, NonFiniteAudioError, UndecodableAudioError

SAMPLE_RATE = 16000
N_FFT = 400
HOP_LENGTH = 160
CHUNK_LENGTH = 30  # seconds in one Whisper window
N_SAMPLES = CHUNK_LENGTH * SAMPLE_RATE  # 480000 samples in a window
N_FRAMES = N_SAMPLES // HOP_LENGTH  # 3000 mel frames in a window


def validate_pcm(pcm: np.ndarray, max_samples: int = N_SAMPLES) -> np.ndarray:
    """Return `pcm` as contiguous float32 mono, or raise the InvalidAudioError that fits."""
    samples = np.ascontiguousarray(pcm, dtype=np.float32).reshape(-1)
    if samples.size == 0:
        raise EmptyAudioError("audio contains no samples")
    if samples.size > max_samples:
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


def decode_audio(source: str | Path | BinaryIO) -> np.ndarray:
    """Decode any audio FFmpeg reads into 16 kHz mono float32 PCM (downmixed, resampled)."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    target = str(source) if isinstance(source, str | Path) else source
    try:
        with av.open(target, mode="r") as container:
            if not container.streams.audio:
                raise UndecodableAudioError("the file contains no audio stream")
            for frame in container.decode(audio=0):
                chunks.extend(resampled.to_ndarray().reshape(-1) for resampled in resampler.resample(frame))
        chunks.extend(resampled.to_ndarray().reshape(-1) for resampled in resampler.resample(None))
    except av.FFmpegError as exc:
        raise UndecodableAudioError(f"audio could not be decoded: {exc}") from exc
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
