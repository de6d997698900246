"""The Triton model class of every `<name>_decoder` (pipeline profile): ENCODER_OUTPUT (+ optional
WAV_LENS, PROMPT, TEMPERATURE, SEED, WORD_TIMESTAMPS, PARTIAL) -> the decoding outputs of
`triton_models.contract`, by batched window decoding with a KV cache in this process."""

from __future__ import annotations

from typing import Any

import numpy as np

from triton_models import contract
from triton_models.settings import read_model_settings
from triton_models.stub import PrecisionGauge, execute_batch, input_array, request_windows, required_array
from whisper_runtime.audio import N_SAMPLES
from whisper_runtime.engine import load_decoder
from whisper_runtime.window_decoder import WindowRequest


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        settings = read_model_settings(args)
        self.decoder = load_decoder(settings.model_files(), settings.engine)
        self.precision_gauge = PrecisionGauge(settings)

    def finalize(self) -> None:
        self.precision_gauge.remove()

    def execute(self, requests: list[Any]) -> list[Any]:
        return execute_batch(requests, self._rows, self._decode, width=lambda row: row[0].shape[0])

    def _rows(self, request: Any) -> list[tuple[np.ndarray, WindowRequest]]:
        hidden = required_array(request, contract.ENCODER_OUTPUT)
        frames = contract.read_frames(input_array(request, contract.WAV_LENS), len(hidden), N_SAMPLES)
        return list(zip(hidden, request_windows(request, frames, self.decoder.prompts), strict=True))

    def _decode(self, rows: list[tuple[np.ndarray, WindowRequest]]) -> dict[str, np.ndarray]:
        hidden = np.stack([row for row, _ in rows])
        return contract.decoding_outputs(self.decoder.decode(hidden, [window for _, window in rows]))
