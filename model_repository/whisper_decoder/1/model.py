"""Triton model: ENCODER_OUTPUT (+ optional PROMPT) -> TRANSCRIPTS, TOKENS, AVG_LOGPROB, NO_SPEECH_PROB,
by batched greedy decoding with a KV cache in this process."""

from __future__ import annotations

from typing import Any

import numpy as np

from triton_server.model_settings import read_model_settings
from triton_server.python_model import execute_batch, input_array
from whisper_runtime.decoding import Prompt
from whisper_runtime.engine import load_decoder
from whisper_runtime.errors import InvalidPromptError

TOKEN_PADDING = -1  # TOKENS rows are padded to the batch's longest row with this value


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        settings = read_model_settings(args)
        self.decoder = load_decoder(settings.repository, settings.engine)

    def execute(self, requests: list[Any]) -> list[Any]:
        return execute_batch(requests, self._rows, self._decode)

    def _rows(self, request: Any) -> list[tuple[np.ndarray, Prompt]]:
        """(encoder output, prompt) per batch row; the default prompt when PROMPT is not sent."""
        hidden = input_array(request, "ENCODER_OUTPUT")
        prompts = input_array(request, "PROMPT")
        if prompts is None:
            return [(row, self.decoder.prompt) for row in hidden]
        if prompts.ndim != 2 or len(prompts) != len(hidden):
            raise InvalidPromptError(f"PROMPT of shape {list(prompts.shape)} does not fit {len(hidden)} rows")
        return [(row, self.decoder.check_prompt(prompt)) for row, prompt in zip(hidden, prompts, strict=True)]

    def _decode(self, rows: list[tuple[np.ndarray, Prompt]]) -> dict[str, np.ndarray]:
        results = self.decoder.decode(np.stack([hidden for hidden, _ in rows]), prompts=[prompt for _, prompt in rows])
        tokens = np.full((len(results), max(len(r.tokens) for r in results)), TOKEN_PADDING, dtype=np.int32)
        for row, result in zip(tokens, results, strict=True):
            row[: len(result.tokens)] = result.tokens
        return {
            "TRANSCRIPTS": np.array([[r.text.encode("utf-8")] for r in results], dtype=np.object_),
            "TOKENS": tokens,
            "AVG_LOGPROB": np.array([[r.avg_logprob] for r in results], dtype=np.float32),
            "NO_SPEECH_PROB": np.array([[r.no_speech_prob] for r in results], dtype=np.float32),
        }
