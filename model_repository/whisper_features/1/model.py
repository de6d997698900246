"""Triton model: 16 kHz mono float32 PCM (WAV, optional WAV_LENS) -> log-mel FEATURES of one 30 s window."""

from __future__ import annotations

from typing import Any

import numpy as np

from triton_server.model_settings import read_model_settings
from triton_server.python_model import execute_batch, input_array
from whisper_runtime.audio import validate_pcm
from whisper_runtime.engine import load_spec
from whisper_runtime.errors import InvalidAudioError
from whisper_runtime.features import window_features


def _clips(request: Any) -> list[np.ndarray]:
    """The clips of one request: rows of WAV, each cut to its WAV_LENS entry when given."""
    wav = input_array(request, "WAV")
    lengths = input_array(request, "WAV_LENS")
    if lengths is None:
        return [validate_pcm(row) for row in wav]
    lengths = lengths.reshape(-1)
    if len(lengths) != len(wav) or (lengths < 0).any() or (lengths > wav.shape[1]).any():
        raise InvalidAudioError(f"WAV_LENS {lengths.tolist()} does not fit WAV of shape {list(wav.shape)}")
    return [validate_pcm(row[:length]) for row, length in zip(wav, lengths, strict=True)]


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        self.n_mels = load_spec(read_model_settings(args).repository).n_mels

    def execute(self, requests: list[Any]) -> list[Any]:
        return execute_batch(requests, _clips, lambda clips: {"FEATURES": window_features(clips, self.n_mels)})
