"""The Triton model class of every entry model (fused profile, the CPU default): 16 kHz mono PCM (WAV,
optional WAV_LENS, PROMPT) -> TRANSCRIPTS, TOKENS, AVG_LOGPROB, NO_SPEECH_PROB, LANGUAGE; features,
encoder and greedy decoding in this process."""

from __future__ import annotations

from typing import Any

import numpy as np

from triton_models import contract
from triton_models.settings import read_model_settings
from triton_models.stub import execute_batch, request_clips, request_prompts
from whisper_runtime.engine import WhisperEngine
from whisper_runtime.prompts import Prompt


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        settings = read_model_settings(args)
        self.engine = WhisperEngine.load(settings.model_files(), settings.engine)

    def execute(self, requests: list[Any]) -> list[Any]:
        return execute_batch(requests, self._rows, self._decode)

    def _rows(self, request: Any) -> list[tuple[np.ndarray, Prompt]]:
        """Each row's log-mel window (computed here, so bad audio fails its own request only) and prompt."""
        features = self.engine.features(request_clips(request))
        return list(zip(features, request_prompts(request, len(features), self.engine.prompts), strict=True))

    def _decode(self, rows: list[tuple[np.ndarray, Prompt]]) -> dict[str, np.ndarray]:
        features = np.stack([row for row, _ in rows])
        return contract.decoding_outputs(self.engine.decode_features(features, prompts=[prompt for _, prompt in rows]))
