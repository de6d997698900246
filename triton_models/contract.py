"""The tensors of our Triton models, for both sides: the models write what their clients read.

Plain numpy, no Triton import: the model.py adapters (through `triton_models.stub`) and the clients
(`triton_server.client`, the gateway's Triton backend, perf_analyzer's input data) import it alike.
The names match `model_repository/*/config.pbtxt` (a test holds them together).

In: `WAV` (16 kHz mono float32 PCM, one clip per row), optional `WAV_LENS` (valid samples per row)
and `PROMPT` (the decoder prompt per row; without it a row decodes text without timestamps), and
the optional `TEMPERATURE` (the first temperature, 0 by default: greedy with Whisper's fallback),
`SEED` (of the sampling), `WORD_TIMESTAMPS` (time the words) and `PARTIAL` (a partial hypothesis of live
speech: no fallback, a shorter encoder context; `whisper_runtime.window_decoder.WindowRequest`) per row.
Out: `TRANSCRIPTS`, `TOKENS` (rows padded with TOKEN_PADDING), `AVG_LOGPROB`, `NO_SPEECH_PROB`,
`LANGUAGE` (the code of the language each row was decoded in: given by its prompt, or detected),
`FINAL_TEMPERATURE` (the temperature of the decoding kept) and `TOKEN_TIMES` (the kept segments'
text token times, padded with TIME_PADDING; only padding where word timestamps were not asked for).
Between the pipeline profile's two models: `ENCODER_OUTPUT` (hidden states per row).

Beside the tensors, every loaded version of a model says on Triton's metrics port which precision it runs:
`PRECISION_METRIC{model="<whisper model>",version="<n>",precision="int8"} 1` (the gateway reads it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from whisper_runtime.audio import HOP_LENGTH
from whisper_runtime.decoding import DecodingResult
from whisper_runtime.errors import InvalidAudioError, InvalidInputError, InvalidPromptError
from whisper_runtime.prompts import PromptRules
from whisper_runtime.quality import MAX_TEMPERATURE
from whisper_runtime.window_decoder import WindowRequest

WAV = "WAV"
WAV_LENS = "WAV_LENS"
PROMPT = "PROMPT"
ENCODER_OUTPUT = "ENCODER_OUTPUT"
TRANSCRIPTS = "TRANSCRIPTS"
TOKENS = "TOKENS"
AVG_LOGPROB = "AVG_LOGPROB"
NO_SPEECH_PROB = "NO_SPEECH_PROB"
LANGUAGE = "LANGUAGE"
TEMPERATURE = "TEMPERATURE"
SEED = "SEED"
WORD_TIMESTAMPS = "WORD_TIMESTAMPS"
PARTIAL = "PARTIAL"
FINAL_TEMPERATURE = "FINAL_TEMPERATURE"
TOKEN_TIMES = "TOKEN_TIMES"  # noqa: S105  # nosec B105  # a tensor name, not a secret
DECODING_OUTPUTS = (TRANSCRIPTS, TOKENS, AVG_LOGPROB, NO_SPEECH_PROB, LANGUAGE, FINAL_TEMPERATURE, TOKEN_TIMES)

PRECISION_METRIC = "dattavani_model_precision"  # a gauge of Triton's custom metrics, labels PRECISION_LABELS
PRECISION_LABELS = ("model", "version", "precision")

TOKEN_PADDING = -1  # TOKENS rows are padded to the batch's longest row with this value
TIME_PADDING = -1.0  # and TOKEN_TIMES rows with this one (at least one column: Triton has no empty rows)


def window_inputs(pcm: np.ndarray, request: WindowRequest | None = None) -> dict[str, np.ndarray]:
    """The inputs of a request for one window of at most 30 s (no request: greedy text without timestamps)."""
    inputs = {WAV: pcm.reshape(1, -1).astype(np.float32, copy=False)}
    if request is not None:
        inputs[WAV_LENS] = np.array([[pcm.size]], dtype=np.int32)  # the pipeline's decoder reads it too
        inputs[PROMPT] = np.array([request.prompt], dtype=np.int32)
        inputs[TEMPERATURE] = np.array([[request.temperature]], dtype=np.float32)
        inputs[SEED] = np.array([[request.seed]], dtype=np.int64)
        inputs[WORD_TIMESTAMPS] = np.array([[request.word_timestamps]], dtype=np.bool_)
        inputs[PARTIAL] = np.array([[request.partial]], dtype=np.bool_)
    return inputs


def canary_inputs(pcm: np.ndarray) -> dict[str, np.ndarray]:
    """The inputs of a canary inference, which proves a model answers at the least cost: `pcm` decoded at the
    model's default prompt as a partial hypothesis (a 10 s encoder context rather than Whisper's 30 s)."""
    return {**window_inputs(pcm), PARTIAL: np.array([[True]])}


def read_clips(wav: np.ndarray, lengths: np.ndarray | None) -> list[np.ndarray]:
    """The clips of one request: rows of WAV, each cut to its WAV_LENS entry when given (the samples
    themselves are validated where PCM enters the core, `WhisperEncoder.features`)."""
    if lengths is None:
        return list(wav)
    lengths = lengths.reshape(-1)
    if len(lengths) != len(wav) or (lengths < 0).any() or (lengths > wav.shape[1]).any():
        raise InvalidAudioError(f"WAV_LENS {lengths.tolist()} does not fit WAV of shape {list(wav.shape)}")
    return [row[:length] for row, length in zip(wav, lengths, strict=True)]


def read_frames(lengths: np.ndarray | None, rows: int, width: int) -> list[int]:
    """The mel frames holding audio in each row: from WAV_LENS when sent, else from the rows' width."""
    samples = [width] * rows if lengths is None else [int(length) for length in lengths.reshape(-1)]
    return [-(-length // HOP_LENGTH) for length in samples]


def _per_row(sent: np.ndarray | None, name: str, rows: int) -> np.ndarray | None:
    if sent is None:
        return None
    values = sent.reshape(-1)
    if len(values) != rows:
        raise InvalidInputError(f"{name} of shape {list(sent.shape)} does not fit {rows} rows")
    return values


def read_partial(sent: np.ndarray | None, rows: int) -> list[bool]:
    """Which rows are partial hypotheses, from the optional PARTIAL input (none when not sent)."""
    values = _per_row(sent, PARTIAL, rows)
    return [False] * rows if values is None else [bool(value) for value in values]


def read_requests(
    tensors: Mapping[str, np.ndarray | None], rows: int, frames: Sequence[int], rules: PromptRules
) -> list[WindowRequest]:
    """Each row's WindowRequest from the optional inputs of one request (PROMPT, TEMPERATURE, SEED,
    WORD_TIMESTAMPS, PARTIAL; defaults where not sent), checked; `frames`: the mel frames of audio per row."""
    sent = tensors.get(PROMPT)
    if sent is not None and (sent.ndim != 2 or len(sent) != rows):
        raise InvalidPromptError(f"PROMPT of shape {list(sent.shape)} does not fit {rows} rows")
    prompts = [rules.default] * rows if sent is None else [rules.check(prompt) for prompt in sent]
    temperatures = _per_row(tensors.get(TEMPERATURE), TEMPERATURE, rows)
    seeds = _per_row(tensors.get(SEED), SEED, rows)
    words = _per_row(tensors.get(WORD_TIMESTAMPS), WORD_TIMESTAMPS, rows)
    partial = read_partial(tensors.get(PARTIAL), rows)
    if temperatures is not None and not ((temperatures >= 0) & (temperatures <= MAX_TEMPERATURE)).all():
        raise InvalidInputError(f"TEMPERATURE must lie in [0, {MAX_TEMPERATURE}], not {temperatures.tolist()}")
    if seeds is not None and (seeds < 0).any():
        raise InvalidInputError(f"SEED must not be negative, not {seeds.tolist()}")
    return [
        WindowRequest(
            prompt,
            temperature=0.0 if temperatures is None else round(float(temperatures[row]), 6),
            seed=0 if seeds is None else int(seeds[row]),
            word_timestamps=False if words is None else bool(words[row]),
            frames=frames[row],
            partial=partial[row],
        )
        for row, prompt in enumerate(prompts)
    ]


def decoding_outputs(results: Sequence[DecodingResult]) -> dict[str, np.ndarray]:
    """The output tensors of a batch of decoded windows, one row each."""
    tokens = np.full((len(results), max(len(r.tokens) for r in results)), TOKEN_PADDING, dtype=np.int32)
    times = np.full((len(results), max(1, *(len(r.token_times) for r in results))), TIME_PADDING, dtype=np.float32)
    for row, result in enumerate(results):
        tokens[row, : len(result.tokens)] = result.tokens
        times[row, : len(result.token_times)] = result.token_times
    return {
        TRANSCRIPTS: np.array([[r.text.encode("utf-8")] for r in results], dtype=np.object_),
        TOKENS: tokens,
        AVG_LOGPROB: np.array([[r.avg_logprob] for r in results], dtype=np.float32),
        NO_SPEECH_PROB: np.array([[r.no_speech_prob] for r in results], dtype=np.float32),
        LANGUAGE: np.array([[r.language.encode("ascii")] for r in results], dtype=np.object_),
        FINAL_TEMPERATURE: np.array([[r.temperature] for r in results], dtype=np.float32),
        TOKEN_TIMES: times,
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
            temperature=round(float(temperature), 6),
            token_times=tuple(round(float(time), 6) for time in times if time != TIME_PADDING),
        )
        for tokens, text, avg_logprob, no_speech_prob, language, temperature, times in zip(
            outputs[TOKENS].reshape(len(outputs[TRANSCRIPTS]), -1),
            outputs[TRANSCRIPTS].reshape(-1),
            outputs[AVG_LOGPROB].reshape(-1),
            outputs[NO_SPEECH_PROB].reshape(-1),
            outputs[LANGUAGE].reshape(-1),
            outputs[FINAL_TEMPERATURE].reshape(-1),
            outputs[TOKEN_TIMES].reshape(len(outputs[TRANSCRIPTS]), -1),
            strict=True,
        )
    ]
