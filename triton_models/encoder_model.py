"""The Triton model class of every `<name>_encoder` (pipeline profile): 16 kHz mono PCM (WAV, optional
WAV_LENS, PARTIAL) -> ENCODER_OUTPUT hidden states; each clip's log-mel window is computed here, in the
process that encodes it."""

from __future__ import annotations

from typing import Any

import numpy as np

from triton_models import contract
from triton_models.settings import read_model_settings
from triton_models.stub import PrecisionGauge, execute_batch, input_array, request_clips
from whisper_runtime.engine import load_encoder


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        settings = read_model_settings(args)
        self.encoder = load_encoder(settings.model_files(), settings.engine)
        self.precision_gauge = PrecisionGauge(settings)

    def finalize(self) -> None:
        self.precision_gauge.remove()

    def execute(self, requests: list[Any]) -> list[Any]:
        return execute_batch(requests, self._rows, self._encode, width=lambda features: features.shape[-1])

    def _rows(self, request: Any) -> list[np.ndarray]:
        """Each row's log-mel window (computed here, so bad audio fails its own request only): 30 s, or a
        partial hypothesis's shorter context."""
        clips = request_clips(request)
        partial = contract.read_partial(input_array(request, contract.PARTIAL), len(clips))
        return [self.encoder.window(clip, row_partial) for clip, row_partial in zip(clips, partial, strict=True)]

    def _encode(self, features: list[np.ndarray]) -> dict[str, np.ndarray]:
        return {contract.ENCODER_OUTPUT: self.encoder.encode(np.stack(features))}
