"""The Triton model class of every `<name>_decoder` (pipeline profile): ENCODER_OUTPUT (+ optional
PROMPT) -> TRANSCRIPTS, TOKENS, AVG_LOGPROB, NO_SPEECH_PROB, LANGUAGE, by batched greedy decoding
with a KV cache in this process."""

from __future__ import annotations

from typing import Any

import numpy as np

from triton_models import contract
from triton_models.settings import read_model_settings
from triton_models.stub import execute_batch, request_prompts, required_array
from whisper_runtime.engine import load_decoder
from whisper_runtime.prompts import Prompt


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        settings = read_model_settings(args)
        self.decoder = load_decoder(settings.model_files(), settings.engine)

    def execute(self, requests: list[Any]) -> list[Any]:
        return execute_batch(requests, self._rows, self._decode)

    def _rows(self, request: Any) -> list[tuple[np.ndarray, Prompt]]:
        hidden = required_array(request, contract.ENCODER_OUTPUT)
        return list(zip(hidden, request_prompts(request, len(hidden), self.decoder.prompts), strict=True))

    def _decode(self, rows: list[tuple[np.ndarray, Prompt]]) -> dict[str, np.ndarray]:
        hidden = np.stack([row for row, _ in rows])
        return contract.decoding_outputs(self.decoder.decode(hidden, prompts=[prompt for _, prompt in rows]))
