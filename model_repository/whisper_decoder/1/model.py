"""Triton model: ENCODER_OUTPUT -> TRANSCRIPTS, by batched greedy decoding with a KV cache in this process."""

from __future__ import annotations

from typing import Any

import numpy as np

from triton_server.model_settings import read_model_settings
from triton_server.python_model import execute_batch, input_array
from whisper_runtime.engine import load_decoder


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        settings = read_model_settings(args)
        self.decoder = load_decoder(settings.repository, settings.engine)

    def execute(self, requests: list[Any]) -> list[Any]:
        return execute_batch(requests, lambda request: list(input_array(request, "ENCODER_OUTPUT")), self._decode)

    def _decode(self, rows: list[np.ndarray]) -> dict[str, np.ndarray]:
        results = self.decoder.decode(np.stack(rows))
        return {"TRANSCRIPTS": np.array([[r.text.encode("utf-8")] for r in results], dtype=np.object_)}
