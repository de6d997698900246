"""Triton model (pipeline profile): 16 kHz mono PCM (WAV, optional WAV_LENS) -> ENCODER_OUTPUT hidden
states; each clip's log-mel window is computed here, in the process that encodes it."""

from __future__ import annotations

from typing import Any

from triton_server import whisper_tensors
from triton_server.model_settings import read_model_settings
from triton_server.python_model import execute_batch
from whisper_runtime.engine import load_encoder


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        settings = read_model_settings(args)
        self.encoder = load_encoder(settings.repository, settings.engine)

    def execute(self, requests: list[Any]) -> list[Any]:
        return execute_batch(
            requests, whisper_tensors.clips, lambda clips: {"ENCODER_OUTPUT": self.encoder.encode_pcm(clips)}
        )
