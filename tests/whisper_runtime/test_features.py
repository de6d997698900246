"""Log-mel features equal Whisper's reference implementation (as in Hugging Face transformers)."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import WhisperFeatureExtractor
from transformers.audio_utils import mel_filter_bank

from whisper_runtime.audio import N_FRAMES, N_SAMPLES, SAMPLE_RATE, pad_or_trim
from whisper_runtime.features import log_mel_spectrogram, mel_filters, window_features


def test_mel_filters_match_the_slaney_filterbank() -> None:
    reference = mel_filter_bank(
        num_frequency_bins=201,
        num_mel_filters=80,
        min_frequency=0.0,
        max_frequency=8000.0,
        sampling_rate=SAMPLE_RATE,
        norm="slaney",
        mel_scale="slaney",
    )
    np.testing.assert_allclose(mel_filters(80), reference.T, atol=1e-8)


def test_window_features_match_the_hugging_face_extractor(jfk_pcm: np.ndarray) -> None:
    ours = window_features([jfk_pcm])
    theirs = WhisperFeatureExtractor(feature_size=80)(jfk_pcm, sampling_rate=SAMPLE_RATE, return_tensors="np")
    assert ours.shape == (1, 80, N_FRAMES)
    np.testing.assert_allclose(ours, theirs.input_features, atol=1e-4)


def test_batched_features_equal_features_computed_one_by_one(jfk_pcm: np.ndarray) -> None:
    clips = [jfk_pcm, jfk_pcm[: SAMPLE_RATE * 3], jfk_pcm[::2]]
    batch = window_features(clips)
    for clip, row in zip(clips, batch, strict=True):
        np.testing.assert_array_equal(row, window_features([clip])[0])


def test_log_mel_of_any_length_has_one_frame_per_hop() -> None:
    assert log_mel_spectrogram(np.zeros(SAMPLE_RATE * 45, dtype=np.float32)).shape == (80, 4500)


@pytest.mark.parametrize("length", [0, 1, N_SAMPLES - 1, N_SAMPLES, N_SAMPLES + 7])
def test_pad_or_trim_gives_exactly_one_window(length: int) -> None:
    assert pad_or_trim(np.ones(length, dtype=np.float32)).shape == (N_SAMPLES,)
