"""The Triton model class of every `<name>_encoder` (pipeline profile): 16 kHz mono PCM (WAV, optional
WAV_LENS) -> ENCODER_OUTPUT hidden states; each clip's log-mel window is computed here, in the
process that encodes it."""

from __future__ import annotations

from typing import Any

import numpy as np

from triton_models import contract
from triton_models.settings import read_model_settings
from triton_models.stub import PrecisionGauge, execute_batch, request_clips
from whisper_runtime.engine import load_encoder


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        settings = read_model_settings(args)
        self.encoder = load_encoder(settings.model_files(), settings.engine)
        self.precision_gauge = PrecisionGauge(settings)

    def finalize(self) -> None:
        self.precision_gauge.remove()

    def execute(self, requests: list[Any]) -> list[Any]:
        return execute_batch(requests, self._rows, self._encode)

    def _rows(self, request: Any) -> list[np.ndarray]:
        """Each row's log-mel window (computed here, so bad audio fails its own request only)."""
        return list(self.encoder.features(request_clips(request)))

    def _encode(self, features: list[np.ndarray]) -> dict[str, np.ndarray]:
        return {contract.ENCODER_OUTPUT: self.encoder.encode(np.stack(features))}
