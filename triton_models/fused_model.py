"""The Triton model class of every entry model (fused profile, the CPU default): 16 kHz mono PCM (WAV,
optional WAV_LENS, PROMPT, TEMPERATURE, SEED, WORD_TIMESTAMPS, PARTIAL) -> the decoding outputs of
`triton_models.contract`; features, encoder and window decoding in this process."""

from __future__ import annotations

from typing import Any

import numpy as np

from triton_models import contract
from triton_models.settings import read_model_settings
from triton_models.stub import PrecisionGauge, execute_batch, request_clips, request_windows
from whisper_runtime.audio import HOP_LENGTH
from whisper_runtime.engine import WhisperEngine
from whisper_runtime.window_decoder import WindowRequest


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        settings = read_model_settings(args)
        self.engine = WhisperEngine.load(settings.model_files(), settings.engine)
        self.precision_gauge = PrecisionGauge(settings)

    def finalize(self) -> None:
        self.precision_gauge.remove()

    def execute(self, requests: list[Any]) -> list[Any]:
        return execute_batch(requests, self._rows, self._decode)

    def _rows(self, request: Any) -> list[tuple[np.ndarray, WindowRequest]]:
        """Each row's log-mel window (computed here, so bad audio fails its own request only) and request."""
        clips = request_clips(request)
        frames = [-(-clip.size // HOP_LENGTH) for clip in clips]
        windows = request_windows(request, frames, self.engine.prompts)
        return [(self.engine.window(clip, window.partial), window) for clip, window in zip(clips, windows, strict=True)]

    def _decode(self, rows: list[tuple[np.ndarray, WindowRequest]]) -> dict[str, np.ndarray]:
        features = [row for row, _ in rows]
        return contract.decoding_outputs(self.engine.decode_features(features, [window for _, window in rows]))
