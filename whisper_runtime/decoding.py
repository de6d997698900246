"""Batched greedy decoding with a key/value cache over the exported ONNX decoders.

The first step runs `decoder_model` on the prompt; it returns the self-attention cache and the
cross-attention keys/values, which then stay in this process for every later
`decoder_with_past_model` step. Rows that emit end-of-text leave the batch instead of being
padded along, which is faster on a CPU.

A prompt ending in <|notimestamps|> decodes text only; any other prompt decodes with timestamp
tokens under Whisper's timestamp rules (`TimestampRules`). Rows of one batch may carry different
prompts: rows whose prompts have the same shape run together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from whisper_runtime.errors import InvalidPromptError
from whisper_runtime.model_spec import ModelSpec
from whisper_runtime.tokenizer import MAX_PREVIOUS_TOKENS, SpecialTokens, WhisperTokenizer

INPUT_IDS = "input_ids"
ENCODER_HIDDEN_STATES = "encoder_hidden_states"
# The first timestamp of a window may be at most 1.0 s (50 steps of 0.02 s), as in Whisper.
MAX_INITIAL_TIMESTAMP_INDEX = 50

Prompt = tuple[int, ...]


@dataclass(frozen=True)
class DecodingOptions:
    """Options of one decoding call. `max_new_tokens` defaults to half the text context, as Whisper does."""

    max_new_tokens: int | None = None


@dataclass(frozen=True)
class DecodingResult:
    """One row's decoding: tokens (with timestamp tokens if the prompt asked for them, without
    end-of-text), their text, the mean log-probability of the tokens chosen (end-of-text
    included), and the probability the window holds no speech (<|nospeech|> at the start)."""

    tokens: tuple[int, ...]
    text: str
    avg_logprob: float
    no_speech_prob: float


def _cache_names(spec: ModelSpec, kind: str) -> list[tuple[str, str]]:
    """(present output, past input) name pairs for the decoder's 'decoder' or 'encoder' cache."""
    return [
        (f"present.{layer}.{kind}.{part}", f"past_key_values.{layer}.{kind}.{part}")
        for layer in range(spec.decoder_layers)
        for part in ("key", "value")
    ]


def _logsumexp(logits: np.ndarray) -> np.ndarray:
    """log(sum(exp)) over the last axis; rows that are all -inf give -inf."""
    peak = logits.max(axis=-1, keepdims=True)
    finite_peak = np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(divide="ignore"):
        return (finite_peak + np.log(np.exp(logits - finite_peak).sum(axis=-1, keepdims=True)))[..., 0]


class TimestampRules:
    """Whisper's rules for decoding with timestamps, applied to a step's logits in place.

    A window starts with a timestamp of at most 1.0 s; timestamps come in pairs (end of one
    segment, start of the next) except right before end-of-text; they never decrease and a
    segment never has zero length; and when the timestamps together are more likely than any
    text token, a timestamp is chosen.
    """

    def __init__(self, special: SpecialTokens) -> None:
        self._special = special
        self._begin = special.timestamp_begin

    def apply(self, logits: np.ndarray, generated: Sequence[Sequence[int]], first_step: bool) -> None:
        begin = self._begin
        logits[:, self._special.no_timestamps] = -np.inf
        for row, tokens in enumerate(generated):
            last_was_timestamp = len(tokens) >= 1 and tokens[-1] >= begin
            penultimate_was_timestamp = len(tokens) < 2 or tokens[-2] >= begin
            if last_was_timestamp:
                if penultimate_was_timestamp:
                    logits[row, begin:] = -np.inf  # a pair just closed: text must follow
                else:
                    logits[row, : self._special.end_of_text] = -np.inf  # a segment just ended: no text
            last_timestamp = next((token for token in reversed(tokens) if token >= begin), None)
            if last_timestamp is not None:
                lowest = last_timestamp if last_was_timestamp and not penultimate_was_timestamp else last_timestamp + 1
                logits[row, begin:lowest] = -np.inf
        if first_step:
            logits[:, :begin] = -np.inf
            logits[:, begin + MAX_INITIAL_TIMESTAMP_INDEX + 1 :] = -np.inf
        timestamps_win = _logsumexp(logits[:, begin:]) > logits[:, :begin].max(axis=-1)
        logits[timestamps_win, :begin] = -np.inf


class GreedyDecoder:
    """Greedy decoding of a batch of encoder outputs into tokens and text."""

    def __init__(
        self,
        decoder: ort.InferenceSession,
        decoder_with_past: ort.InferenceSession,
        tokenizer: WhisperTokenizer,
        spec: ModelSpec,
    ) -> None:
        self._decoder = decoder
        self._decoder_with_past = decoder_with_past
        self._tokenizer = tokenizer
        self._spec = spec
        self._self_cache = _cache_names(spec, "decoder")
        self._cross_cache = _cache_names(spec, "encoder")
        self._decoder_outputs = [o.name for o in decoder.get_outputs()]
        self._with_past_outputs = [o.name for o in decoder_with_past.get_outputs()]
        self._timestamp_rules = TimestampRules(tokenizer.special)
        self.prompt: Prompt = tokenizer.special.prompt()
        self._suppress = np.array(spec.suppress_tokens, dtype=np.int64)
        self._suppress_at_start = np.array(spec.suppress_tokens + spec.begin_suppress_tokens, dtype=np.int64)

    @property
    def tokenizer(self) -> WhisperTokenizer:
        return self._tokenizer

    def check_prompt(self, prompt: Sequence[int]) -> Prompt:
        """`prompt` as a tuple if it has the shape `SpecialTokens.prompt` gives; InvalidPromptError if not."""
        special = self._tokenizer.special
        tokens = tuple(int(token) for token in prompt)
        if not tokens or len(tokens) > MAX_PREVIOUS_TOKENS + 3:
            raise InvalidPromptError(f"a prompt has 1 to {MAX_PREVIOUS_TOKENS + 3} tokens, not {len(tokens)}")
        if not all(0 <= token < self._spec.vocab_size for token in tokens):
            raise InvalidPromptError(f"prompt tokens must lie in [0, {self._spec.vocab_size})")
        start = len(tokens) - (1 if special.wants_timestamps(tokens) else 2)
        if start < 0 or tokens[start] != special.start_of_transcript or special.start_of_transcript in tokens[:start]:
            raise InvalidPromptError("a prompt ends with <|startoftranscript|> [<|notimestamps|>] and has it once")
        previous = tokens[:start]
        ordinary = all(t < special.end_of_text or t >= special.timestamp_begin for t in previous[1:])
        if previous and (previous[0] != special.start_of_prev or not ordinary):
            raise InvalidPromptError("previous text in a prompt is <|startofprev|> then text and timestamp tokens")
        return tokens

    def decode(
        self,
        encoder_hidden_states: np.ndarray,
        options: DecodingOptions | None = None,
        prompts: Sequence[Prompt] | None = None,
    ) -> list[DecodingResult]:
        """Decode each row of `encoder_hidden_states` (batch, frames, d_model) from its prompt
        (default: text without timestamps, `self.prompt`)."""
        options = options or DecodingOptions()
        batch = encoder_hidden_states.shape[0]
        prompts = [self.check_prompt(prompt) for prompt in prompts] if prompts is not None else [self.prompt] * batch
        if len(prompts) != batch:
            raise ValueError(f"{len(prompts)} prompts for {batch} rows")
        groups: dict[tuple[int, bool], list[int]] = defaultdict(list)
        for row, prompt in enumerate(prompts):
            groups[(len(prompt), self._tokenizer.special.wants_timestamps(prompt))].append(row)
        results: list[DecodingResult | None] = [None] * batch
        for rows in groups.values():
            decoded = self._decode_group(encoder_hidden_states[rows], [prompts[row] for row in rows], options)
            for row, result in zip(rows, decoded, strict=True):
                results[row] = result
        return results  # type: ignore[return-value]  # every row belongs to exactly one group

    def _decode_group(
        self, encoder_hidden_states: np.ndarray, prompts: list[Prompt], options: DecodingOptions
    ) -> list[DecodingResult]:
        """Rows whose prompts have one length and one timestamp mode, decoded as one batch."""
        special = self._tokenizer.special
        prompt_length = len(prompts[0])
        timestamps = special.wants_timestamps(prompts[0])
        max_new_tokens = options.max_new_tokens or self._spec.max_target_positions // 2
        max_new_tokens = min(max_new_tokens, self._spec.max_target_positions - prompt_length)
        batch = encoder_hidden_states.shape[0]
        generated: list[list[int]] = [[] for _ in range(batch)]
        sum_logprobs = np.zeros(batch)
        rows = np.arange(batch)

        outputs = dict(
            zip(
                self._decoder_outputs,
                self._decoder.run(
                    None,
                    {
                        INPUT_IDS: np.array(prompts, dtype=np.int64),
                        ENCODER_HIDDEN_STATES: np.ascontiguousarray(encoder_hidden_states, dtype=np.float32),
                    },
                ),
                strict=True,
            )
        )
        start_logits = outputs["logits"][:, prompts[0].index(special.start_of_transcript), :]
        no_speech_probs = np.exp(start_logits[:, special.no_speech] - _logsumexp(start_logits))
        cross_cache = {past: outputs[present] for present, past in self._cross_cache}
        for step in range(max_new_tokens):
            logits = outputs["logits"][:, -1, :]
            logits[:, self._suppress_at_start if step == 0 else self._suppress] = -np.inf
            if timestamps:
                self._timestamp_rules.apply(logits, [generated[row] for row in rows], first_step=step == 0)
            next_tokens = logits.argmax(axis=-1)
            sum_logprobs[rows] += logits[np.arange(len(rows)), next_tokens] - _logsumexp(logits)
            running = next_tokens != special.end_of_text
            for row, token in zip(rows[running], next_tokens[running], strict=True):
                generated[row].append(int(token))
            if not running.any() or step == max_new_tokens - 1:
                break
            self_cache = {past: outputs[present] for present, past in self._self_cache}
            if not running.all():
                rows, next_tokens = rows[running], next_tokens[running]
                self_cache = {name: value[running] for name, value in self_cache.items()}
                cross_cache = {name: value[running] for name, value in cross_cache.items()}
            outputs = dict(
                zip(
                    self._with_past_outputs,
                    self._decoder_with_past.run(
                        None, {INPUT_IDS: next_tokens[:, None].astype(np.int64), **self_cache, **cross_cache}
                    ),
                    strict=True,
                )
            )
        return [
            DecodingResult(
                tokens=tuple(tokens),
                text=self._tokenizer.decode(tokens),
                avg_logprob=float(np.float32(sum_logprob / (len(tokens) + 1))),  # float32, as Triton returns it
                no_speech_prob=float(no_speech_prob),
            )
            for tokens, sum_logprob, no_speech_prob in zip(generated, sum_logprobs, no_speech_probs, strict=True)
        ]
