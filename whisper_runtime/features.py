"""Whisper's log-mel spectrogram in numpy, batched over 30-second windows (or the shorter ones of partial text)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from whisper_runtime.audio import HOP_LENGTH, N_FFT, N_SAMPLES, SAMPLE_RATE, pad_or_trim

DEFAULT_N_MELS = 80
# The encoder context of a partial hypothesis (context_samples): at least this many seconds, and this many
# beyond its audio. Measured on the shared clips (docs/performance.md, "Live transcription").
PARTIAL_MIN_CONTEXT_S = 10
PARTIAL_MARGIN_S = 1
# Bound on sample magnitude: keeps the power spectrum finite (N_FFT * 1e4 squared is far below float32's max).
MAX_ABS_SAMPLE = 1e4


def _hz_to_mel(freq: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above (as librosa's default)."""
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    mels = freq / f_sp
    return np.where(freq >= min_log_hz, min_log_mel + np.log(np.maximum(freq, 1e-10) / min_log_hz) / logstep, mels)


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(mels >= min_log_mel, min_log_hz * np.exp(logstep * (mels - min_log_mel)), f_sp * mels)


@lru_cache(maxsize=4)
def mel_filters(n_mels: int = DEFAULT_N_MELS) -> np.ndarray:
    """Slaney-normalised triangular mel filterbank, shape (n_mels, N_FFT // 2 + 1), float32."""
    fft_freqs = np.linspace(0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    mel_points = _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(SAMPLE_RATE / 2)), n_mels + 2))
    widths = np.diff(mel_points)
    ramps = mel_points[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_points[2 : n_mels + 2] - mel_points[:n_mels]))[:, None]
    return weights.astype(np.float32)


@lru_cache(maxsize=1)
def _hann_window() -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)


def log_mel_spectrogram(pcm: np.ndarray, n_mels: int = DEFAULT_N_MELS) -> np.ndarray:
    """Log-mel of 1-D PCM -> (n_mels, len(pcm) // HOP_LENGTH), normalised over the whole clip.

    Samples are clipped to +-MAX_ABS_SAMPLE first (real audio stays within about +-1): huge finite
    values would overflow the float32 power spectrum to inf, and one such row would poison a whole
    int8 batch, whose activation scale is computed over the batch.
    """
    padded = np.pad(np.clip(pcm, -MAX_ABS_SAMPLE, MAX_ABS_SAMPLE, dtype=np.float32), N_FFT // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP_LENGTH][:-1]
    power = np.abs(np.fft.rfft(frames * _hann_window(), axis=-1)).astype(np.float32) ** 2
    log_spec = np.log10(np.maximum(mel_filters(n_mels) @ power.T, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


def context_samples(samples: int, partial: bool) -> int:
    """The samples of the window the encoder sees for a clip of `samples`: Whisper's 30 s; for a partial
    hypothesis (live text of speech still going on) the clip and PARTIAL_MARGIN_S more, in whole seconds, at
    least PARTIAL_MIN_CONTEXT_S (shorter contexts than that make Whisper repeat itself), at most 30 s."""
    if not partial:
        return N_SAMPLES
    seconds = max(PARTIAL_MIN_CONTEXT_S, -(-samples // SAMPLE_RATE) + PARTIAL_MARGIN_S)
    return min(N_SAMPLES, seconds * SAMPLE_RATE)


def window_features(
    pcm_batch: Sequence[np.ndarray], n_mels: int = DEFAULT_N_MELS, samples: int = N_SAMPLES
) -> np.ndarray:
    """Features of one window of `samples` (30 s by default) per clip, (batch, n_mels, samples // HOP_LENGTH);
    audio zero-padded as HF does.

    Computed clip by clip: a stacked batch is slower here because it leaves the CPU caches.
    """
    return np.stack([log_mel_spectrogram(pad_or_trim(pcm, samples), n_mels) for pcm in pcm_batch])
