"""The tensors of our Triton models, read and written in one place for every model.py.

In: `WAV` (16 kHz mono float32 PCM, one clip per row), optional `WAV_LENS` (valid samples per
row) and `PROMPT` (the decoder prompt per row). Out: `TRANSCRIPTS`, `TOKENS` (padded with
TOKEN_PADDING), `AVG_LOGPROB`, `NO_SPEECH_PROB`. Imported only inside Triton's python stub.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from triton_server.python_model import input_array, required_array
from whisper_runtime.audio import validate_pcm
from whisper_runtime.decoding import DecodingResult, Prompt
from whisper_runtime.errors import InvalidAudioError, InvalidPromptError

TOKEN_PADDING = -1  # TOKENS rows are padded to the batch's longest row with this value


class PromptRules(Protocol):
    """What reading PROMPT needs: the default prompt, and the check of a sent one."""

    @property
    def prompt(self) -> Prompt: ...

    def check_prompt(self, prompt: Sequence[int]) -> Prompt: ...


def clips(request: Any) -> list[np.ndarray]:
    """The clips of one request: rows of WAV, each cut to its WAV_LENS entry when given."""
    wav = required_array(request, "WAV")
    lengths = input_array(request, "WAV_LENS")
    if lengths is None:
        return [validate_pcm(row) for row in wav]
    lengths = lengths.reshape(-1)
    if len(lengths) != len(wav) or (lengths < 0).any() or (lengths > wav.shape[1]).any():
        raise InvalidAudioError(f"WAV_LENS {lengths.tolist()} does not fit WAV of shape {list(wav.shape)}")
    return [validate_pcm(row[:length]) for row, length in zip(wav, lengths, strict=True)]


def prompts(request: Any, rows: int, rules: PromptRules) -> list[Prompt]:
    """The prompt of each of `rows` rows: PROMPT's rows checked, or the default when it was not sent."""
    sent = input_array(request, "PROMPT")
    if sent is None:
        return [rules.prompt] * rows
    if sent.ndim != 2 or len(sent) != rows:
        raise InvalidPromptError(f"PROMPT of shape {list(sent.shape)} does not fit {rows} rows")
    return [rules.check_prompt(prompt) for prompt in sent]


def decoding_outputs(results: Sequence[DecodingResult]) -> dict[str, np.ndarray]:
    tokens = np.full((len(results), max(len(r.tokens) for r in results)), TOKEN_PADDING, dtype=np.int32)
    for row, result in zip(tokens, results, strict=True):
        row[: len(result.tokens)] = result.tokens
    return {
        "TRANSCRIPTS": np.array([[r.text.encode("utf-8")] for r in results], dtype=np.object_),
        "TOKENS": tokens,
        "AVG_LOGPROB": np.array([[r.avg_logprob] for r in results], dtype=np.float32),
        "NO_SPEECH_PROB": np.array([[r.no_speech_prob] for r in results], dtype=np.float32),
    }
