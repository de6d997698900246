"""Triton model: log-mel FEATURES -> ENCODER_OUTPUT hidden states, batched through ONNX Runtime."""

from __future__ import annotations

from typing import Any

import numpy as np

from triton_server.model_settings import read_model_settings
from triton_server.python_model import execute_batch, input_array
from whisper_runtime.engine import load_encoder


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        settings = read_model_settings(args)
        self.encoder = load_encoder(settings.repository, settings.engine)

    def execute(self, requests: list[Any]) -> list[Any]:
        return execute_batch(
            requests,
            lambda request: list(input_array(request, "FEATURES")),
            lambda rows: {"ENCODER_OUTPUT": self.encoder.encode(np.stack(rows))},
        )
