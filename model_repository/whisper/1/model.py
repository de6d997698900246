"""Triton model (fused profile, the CPU default): 16 kHz mono PCM (WAV, optional WAV_LENS, PROMPT) ->
TRANSCRIPTS, TOKENS, AVG_LOGPROB, NO_SPEECH_PROB; features, encoder and greedy decoding in this process."""

from __future__ import annotations

from typing import Any

import numpy as np

from triton_server import whisper_tensors
from triton_server.model_settings import read_model_settings
from triton_server.python_model import execute_batch
from whisper_runtime.decoding import Prompt
from whisper_runtime.engine import WhisperEngine


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        settings = read_model_settings(args)
        self.engine = WhisperEngine.load(settings.repository, settings.engine)

    def execute(self, requests: list[Any]) -> list[Any]:
        return execute_batch(requests, self._rows, self._transcribe)

    def _rows(self, request: Any) -> list[tuple[np.ndarray, Prompt]]:
        clips = whisper_tensors.clips(request)
        return list(zip(clips, whisper_tensors.prompts(request, len(clips), self.engine), strict=True))

    def _transcribe(self, rows: list[tuple[np.ndarray, Prompt]]) -> dict[str, np.ndarray]:
        results = self.engine.transcribe_batch([clip for clip, _ in rows], prompts=[prompt for _, prompt in rows])
        return whisper_tensors.decoding_outputs(results)
