"""Batched decoding with a key/value cache over the exported ONNX decoders.

Per batch of rows whose prompts have one length and one timestamp mode: the first step runs on
the prompts (`DecoderSessions.first_step`); then each step passes the logits through the logit
filters in turn (`whisper_runtime.logit_filters`), picks each row's token (the likeliest at
temperature 0; else drawn from the softmax of the logits over the row's temperature, with the
row's own seeded generator, so the draw does not depend on the batch), adds its log-probability,
and runs the next step for the rows still going. Rows that emit end-of-text leave the batch
instead of being padded along, which is faster on a CPU.

A prompt ending in <|notimestamps|> decodes text only; any other prompt decodes with timestamp
tokens under Whisper's timestamp rules. A multilingual model's prompt that leaves the language
out has it detected first (`whisper_runtime.language_detection`). Rows of one batch may carry
different prompts: rows whose prompts have the same shape run together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from whisper_runtime.decoder_sessions import DecoderSessions
from whisper_runtime.errors import ModelFilesError
from whisper_runtime.language_detection import LanguageDetector
from whisper_runtime.logit_filters import LogitFilter, SuppressTokens, TimestampRules, logsumexp
from whisper_runtime.model_spec import ModelSpec
from whisper_runtime.prompts import Prompt, PromptRules
from whisper_runtime.tokenizer import SpecialTokens, WhisperTokenizer


@dataclass(frozen=True)
class DecodingOptions:
    """Options of one decoding call. `max_new_tokens` defaults to half the text context, as Whisper does."""

    max_new_tokens: int | None = None


@dataclass(frozen=True)
class DecodingResult:
    """One row's decoding: tokens (with timestamp tokens if the prompt asked for them, without
    end-of-text), their text, the mean log-probability of the tokens chosen (end-of-text
    included), the probability the window holds no speech (<|nospeech|> at the start), the
    language it was decoded in (given by the prompt, or detected), the temperature it was decoded
    at, and, when word timestamps were asked for, the times of the kept segments' text tokens
    (`whisper_runtime.alignment`)."""

    tokens: tuple[int, ...]
    text: str
    avg_logprob: float
    no_speech_prob: float
    language: str
    temperature: float = 0.0
    token_times: tuple[float, ...] = ()


@dataclass(frozen=True)
class RowSampling:
    """How one row picks its tokens: greedily at temperature 0, else sampled with `generator`."""

    temperature: float = 0.0
    generator: np.random.Generator | None = None


GREEDY = RowSampling()


class TokenDecoder:
    """Decoding of a batch of encoder outputs into tokens and text, each row greedy or sampled."""

    def __init__(self, sessions: DecoderSessions, tokenizer: WhisperTokenizer, spec: ModelSpec) -> None:
        special = tokenizer.special
        if special.vocab_size != spec.vocab_size:
            raise ModelFilesError(f"the tokenizer implies {special.vocab_size} tokens, the model has {spec.vocab_size}")
        self._sessions = sessions
        self._tokenizer = tokenizer
        self._spec = spec
        self.prompts = PromptRules(special)
        self._detector = LanguageDetector(sessions, special)
        self._suppress = SuppressTokens(
            [*spec.suppress_tokens, *_control_tokens(special)], at_start=spec.begin_suppress_tokens
        )
        self._timestamp_rules = TimestampRules(special)

    @property
    def tokenizer(self) -> WhisperTokenizer:
        return self._tokenizer

    def decode(
        self,
        encoder_hidden_states: np.ndarray,
        options: DecodingOptions | None = None,
        prompts: Sequence[Prompt] | None = None,
        sampling: Sequence[RowSampling] | None = None,
    ) -> list[DecodingResult]:
        """Decode each row of `encoder_hidden_states` (batch, frames, d_model) from its prompt
        (default: text without timestamps), greedily unless its `sampling` says otherwise."""
        options = options or DecodingOptions()
        batch = encoder_hidden_states.shape[0]
        rows_sampling = list(sampling) if sampling is not None else [GREEDY] * batch
        rows_prompts = (
            [self.prompts.check(prompt) for prompt in prompts]
            if prompts is not None
            else [self.prompts.default] * batch
        )
        if len(rows_prompts) != batch:
            raise ValueError(f"{len(rows_prompts)} prompts for {batch} rows")
        given = [self.prompts.language(prompt) for prompt in rows_prompts]
        undetected = [row for row, language in enumerate(given) if language is None]
        detected = (
            dict(zip(undetected, self._detector.detect(encoder_hidden_states[undetected]), strict=True))
            if undetected
            else {}
        )
        languages = [language or detected[row] for row, language in enumerate(given)]
        rows_prompts = [
            self.prompts.with_language(prompt, languages[row]) if row in detected else prompt
            for row, prompt in enumerate(rows_prompts)
        ]
        groups: dict[tuple[int, bool], list[int]] = defaultdict(list)
        for row, prompt in enumerate(rows_prompts):
            groups[(len(prompt), self.prompts.wants_timestamps(prompt))].append(row)
        results: list[DecodingResult | None] = [None] * batch
        for rows in groups.values():
            decoded = self._decode_group(
                encoder_hidden_states[rows],
                [rows_prompts[row] for row in rows],
                [languages[row] for row in rows],
                [rows_sampling[row] for row in rows],
                options,
            )
            for row, result in zip(rows, decoded, strict=True):
                results[row] = result
        return results  # type: ignore[return-value]  # every row belongs to exactly one group

    def _logit_filters(self, prompt: Prompt) -> list[LogitFilter]:
        """The filters every step of a batch with this prompt's shape applies, in order."""
        return [self._suppress, self._timestamp_rules] if self.prompts.wants_timestamps(prompt) else [self._suppress]

    def _max_new_tokens(self, prompt_length: int, options: DecodingOptions) -> int:
        wanted = options.max_new_tokens or self._spec.max_target_positions // 2
        return min(wanted, self._spec.max_target_positions - prompt_length)

    def _decode_group(
        self,
        encoder_hidden_states: np.ndarray,
        prompts: list[Prompt],
        languages: list[str],
        sampling: list[RowSampling],
        options: DecodingOptions,
    ) -> list[DecodingResult]:
        """Rows whose prompts have one length and one timestamp mode, decoded as one batch."""
        special = self.prompts.special
        filters = self._logit_filters(prompts[0])
        max_new_tokens = self._max_new_tokens(len(prompts[0]), options)
        batch = len(prompts)
        generated: list[list[int]] = [[] for _ in range(batch)]
        sum_logprobs = np.zeros(batch)
        rows = np.arange(batch)  # the rows still decoding

        prompt_logits, cache = self._sessions.first_step(prompts, encoder_hidden_states)
        no_speech_probs = _probabilities(
            prompt_logits[:, prompts[0].index(special.start_of_transcript)], special.no_speech
        )
        logits = prompt_logits[:, -1, :]
        for step in range(max_new_tokens):
            for logit_filter in filters:
                logit_filter.apply(logits, [generated[row] for row in rows], step)
            next_tokens = logits.argmax(axis=-1)
            for index, row in enumerate(rows):
                if sampling[row].temperature > 0:
                    next_tokens[index] = _sample(logits[index], sampling[row])
            sum_logprobs[rows] += logits[np.arange(len(rows)), next_tokens] - logsumexp(logits)
            running = next_tokens != special.end_of_text
            for row, token in zip(rows[running], next_tokens[running], strict=True):
                generated[row].append(int(token))
            if not running.any() or step == max_new_tokens - 1:
                break
            if not running.all():
                rows, next_tokens, cache = rows[running], next_tokens[running], cache.keep(running)
            logits, cache = self._sessions.next_step(next_tokens, cache)
        return [
            DecodingResult(
                tokens=tuple(tokens),
                text=self._tokenizer.decode(tokens),
                avg_logprob=float(np.float32(sum_logprob / (len(tokens) + 1))),  # float32, as Triton returns it
                no_speech_prob=float(no_speech_prob),
                language=language,
                temperature=row_sampling.temperature,
            )
            for tokens, sum_logprob, no_speech_prob, language, row_sampling in zip(
                generated, sum_logprobs, no_speech_probs, languages, sampling, strict=True
            )
        ]


def _control_tokens(special: SpecialTokens) -> list[int]:
    """Control tokens never generated as text, as Whisper suppresses them (the tasks on multilingual models)."""
    tasks = [token for token in (special.transcribe, special.translate) if token is not None]
    return [*tasks, special.start_of_transcript, special.start_of_prev, special.start_of_lm, special.no_speech]


def _sample(logits: np.ndarray, sampling: RowSampling) -> int:
    """A token drawn from softmax(logits / temperature) by inverse transform of one uniform draw."""
    if sampling.generator is None:
        raise ValueError("a row sampled at a temperature above 0 needs a generator")
    scaled = logits.astype(np.float64) / sampling.temperature
    cumulative = np.cumsum(np.exp(scaled - scaled.max()))
    return int(
        min(np.searchsorted(cumulative, sampling.generator.random() * cumulative[-1], side="right"), len(logits) - 1)
    )


def _probabilities(logits: np.ndarray, token: int) -> np.ndarray:
    """The probability of `token` in each row of `logits` (rows, vocab)."""
    return np.exp(logits[:, token] - logsumexp(logits))
