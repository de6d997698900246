"""The tensors of our Triton models, for both sides: the models write what their clients read.

Plain numpy, no Triton import: the model.py adapters (through `triton_models.stub`) and the clients
(`triton_server.client`, the gateway's Triton backend, perf_analyzer's input data) import it alike.
The names match `model_repository/*/config.pbtxt` (a test holds them together).

In: `WAV` (16 kHz mono float32 PCM, one clip per row), optional `WAV_LENS` (valid samples per row)
and `PROMPT` (the decoder prompt per row; without it a row decodes text without timestamps).
Out: `TRANSCRIPTS`, `TOKENS` (rows padded with TOKEN_PADDING), `AVG_LOGPROB`, `NO_SPEECH_PROB`,
`LANGUAGE` (the code of the language each row was decoded in: given by its prompt, or detected).
Between the pipeline profile's two models: `ENCODER_OUTPUT` (hidden states per row).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from whisper_runtime.decoding import DecodingResult
from whisper_runtime.errors import InvalidAudioError, InvalidPromptError
from whisper_runtime.prompts import Prompt, PromptRules

WAV = "WAV"
WAV_LENS = "WAV_LENS"
PROMPT = "PROMPT"
ENCODER_OUTPUT = "ENCODER_OUTPUT"
TRANSCRIPTS = "TRANSCRIPTS"
TOKENS = "TOKENS"
AVG_LOGPROB = "AVG_LOGPROB"
NO_SPEECH_PROB = "NO_SPEECH_PROB"
LANGUAGE = "LANGUAGE"
DECODING_OUTPUTS = (TRANSCRIPTS, TOKENS, AVG_LOGPROB, NO_SPEECH_PROB, LANGUAGE)

TOKEN_PADDING = -1  # TOKENS rows are padded to the batch's longest row with this value


def window_inputs(pcm: np.ndarray, prompt: Prompt | None = None) -> dict[str, np.ndarray]:
    """The inputs of a request for one window of at most 30 s (no prompt: text without timestamps)."""
    inputs = {WAV: pcm.reshape(1, -1).astype(np.float32, copy=False)}
    if prompt is not None:
        inputs[PROMPT] = np.array([prompt], dtype=np.int32)
    return inputs


def read_clips(wav: np.ndarray, lengths: np.ndarray | None) -> list[np.ndarray]:
    """The clips of one request: rows of WAV, each cut to its WAV_LENS entry when given (the samples
    themselves are validated where PCM enters the core, `WhisperEncoder.features`)."""
    if lengths is None:
        return list(wav)
    lengths = lengths.reshape(-1)
    if len(lengths) != len(wav) or (lengths < 0).any() or (lengths > wav.shape[1]).any():
        raise InvalidAudioError(f"WAV_LENS {lengths.tolist()} does not fit WAV of shape {list(wav.shape)}")
    return [row[:length] for row, length in zip(wav, lengths, strict=True)]


def read_prompts(sent: np.ndarray | None, rows: int, rules: PromptRules) -> list[Prompt]:
    """The prompt of each of `rows` rows: PROMPT's rows checked, or the default when it was not sent."""
    if sent is None:
        return [rules.default] * rows
    if sent.ndim != 2 or len(sent) != rows:
        raise InvalidPromptError(f"PROMPT of shape {list(sent.shape)} does not fit {rows} rows")
    return [rules.check(prompt) for prompt in sent]


def decoding_outputs(results: Sequence[DecodingResult]) -> dict[str, np.ndarray]:
    """The output tensors of a batch of decoded windows, one row each."""
    tokens = np.full((len(results), max(len(r.tokens) for r in results)), TOKEN_PADDING, dtype=np.int32)
    for row, result in zip(tokens, results, strict=True):
        row[: len(result.tokens)] = result.tokens
    return {
        TRANSCRIPTS: np.array([[r.text.encode("utf-8")] for r in results], dtype=np.object_),
        TOKENS: tokens,
        AVG_LOGPROB: np.array([[r.avg_logprob] for r in results], dtype=np.float32),
        NO_SPEECH_PROB: np.array([[r.no_speech_prob] for r in results], dtype=np.float32),
        LANGUAGE: np.array([[r.language.encode("ascii")] for r in results], dtype=np.object_),
    }


def decoding_results(outputs: Mapping[str, np.ndarray]) -> list[DecodingResult]:
    """The decoded windows that `decoding_outputs` wrote, read back from its tensors."""
    return [
        DecodingResult(
            tokens=tuple(int(token) for token in tokens if token != TOKEN_PADDING),
            text=text.decode("utf-8"),
            avg_logprob=float(avg_logprob),
            no_speech_prob=float(no_speech_prob),
            language=language.decode("ascii"),
        )
        for tokens, text, avg_logprob, no_speech_prob, language in zip(
            outputs[TOKENS].reshape(len(outputs[TRANSCRIPTS]), -1),
            outputs[TRANSCRIPTS].reshape(-1),
            outputs[AVG_LOGPROB].reshape(-1),
            outputs[NO_SPEECH_PROB].reshape(-1),
            outputs[LANGUAGE].reshape(-1),
            strict=True,
        )
    ]
