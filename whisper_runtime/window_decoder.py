"""A batch of windows decoded as each asks: Whisper's temperature fallback, then word times where wanted.

Every row is decoded at the first temperature of its schedule (`whisper_runtime.quality`); rows
whose decoding needs a fallback are decoded again, together, at their next temperature, until
each passes or its schedule ends (the last decoding is kept). Above temperature 0 a row is
sampled BEST_OF times and the likeliest candidate kept, as Whisper does; each candidate draws from
a generator seeded by the row's seed, the temperature and the candidate's number, so a row's text
depends on neither the batch nor the backend. Rows that ask for word timestamps then get the
times of their kept segments' text tokens from the aligner. The Triton models and the in-process
engine both decode through this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from whisper_runtime.alignment import WordAligner
from whisper_runtime.audio import N_FRAMES
from whisper_runtime.decoding import GREEDY, DecodingOptions, DecodingResult, RowSampling, TokenDecoder
from whisper_runtime.errors import InvalidInputError
from whisper_runtime.prompts import Prompt, PromptRules
from whisper_runtime.quality import QUALITY, temperature_schedule
from whisper_runtime.segment_tokens import kept_text
from whisper_runtime.tokenizer import WhisperTokenizer


@dataclass(frozen=True)
class WindowRequest:
    """What one window asks of the decoder: its prompt; the first temperature of its schedule (0:
    greedy, then Whisper's fallback); the seed its sampling draws from; whether to time its words, over
    the `frames` mel frames that hold audio; whether it is a partial hypothesis (live text of speech still
    going on: decoded once at its temperature, without the fallback, over a shorter encoder context,
    `whisper_runtime.features.context_samples`; not with word times)."""

    prompt: Prompt
    temperature: float = 0.0
    seed: int = 0
    word_timestamps: bool = False
    frames: int = N_FRAMES
    partial: bool = False

    def __post_init__(self) -> None:
        if self.partial and self.word_timestamps:
            raise InvalidInputError("a partial hypothesis is decoded without word timestamps")

    @property
    def schedule(self) -> tuple[float, ...]:
        """The temperatures this window may be decoded at, in order."""
        return (self.temperature,) if self.partial else temperature_schedule(self.temperature)


BEST_OF = 5  # candidates sampled per temperature above 0 (Whisper's and faster-whisper's default)


def candidates(temperature: float, seed: int) -> list[RowSampling]:
    """How one row is decoded at `temperature`: once greedily at 0; else BEST_OF times, each candidate with a
    generator seeded by (seed, temperature in thousandths, candidate)."""
    if temperature == 0:
        return [GREEDY]
    thousandths = round(temperature * 1000)
    return [RowSampling(temperature, np.random.default_rng((seed, thousandths, k))) for k in range(BEST_OF)]


def likeliest(results: Sequence[DecodingResult]) -> DecodingResult:
    """The candidate with the highest log-probability per generated token (Whisper's ranking without a length
    penalty; the first of equals)."""
    return max(results, key=lambda r: r.avg_logprob * (len(r.tokens) + 1) / max(1, len(r.tokens)))


class WindowDecoder:
    """Decodes windows of encoder output with temperature fallback and, where asked, word times."""

    def __init__(self, tokens: TokenDecoder, aligner: WordAligner) -> None:
        self._tokens = tokens
        self._aligner = aligner
        self.prompts: PromptRules = tokens.prompts

    @property
    def tokenizer(self) -> WhisperTokenizer:
        return self._tokens.tokenizer

    def decode(
        self,
        encoder_hidden_states: np.ndarray,
        requests: Sequence[WindowRequest],
        options: DecodingOptions | None = None,
    ) -> list[DecodingResult]:
        """One result per row of `encoder_hidden_states` (batch, frames, d_model), from its request."""
        if len(requests) != len(encoder_hidden_states):
            raise ValueError(f"{len(requests)} requests for {len(encoder_hidden_states)} rows")
        prompts = [self.prompts.check(request.prompt) for request in requests]
        schedules = [request.schedule for request in requests]
        results: list[DecodingResult] = [None] * len(requests)  # type: ignore[list-item]  # each row is decoded once at least
        pending, attempt = list(range(len(requests))), 0
        while pending:
            sampling = {row: candidates(schedules[row][attempt], requests[row].seed) for row in pending}
            rows = [row for row in pending for _ in sampling[row]]
            decoded = self._tokens.decode(
                encoder_hidden_states[rows],
                options,
                [prompts[row] for row in rows],
                [candidate for row in pending for candidate in sampling[row]],
            )
            first = 0
            for row in pending:
                result = results[row] = likeliest(decoded[first : first + len(sampling[row])])
                first += len(sampling[row])
                if self.prompts.language(prompts[row]) is None:  # detected once, kept for the retries
                    prompts[row] = self.prompts.with_language(prompts[row], result.language)
            attempt += 1
            pending = [
                row
                for row in pending
                if attempt < len(schedules[row])
                and QUALITY.needs_fallback(results[row].text, results[row].avg_logprob, results[row].no_speech_prob)
            ]
        return [
            self._with_token_times(encoder_hidden_states[row], prompts[row], request, results[row])
            if request.word_timestamps
            else results[row]
            for row, request in enumerate(requests)
        ]

    def _with_token_times(
        self, encoder_hidden_states: np.ndarray, prompt: Prompt, request: WindowRequest, result: DecodingResult
    ) -> DecodingResult:
        special = self.prompts.special
        text = kept_text(result.tokens, special.timestamp_begin, special.end_of_text)
        times = self._aligner.align(encoder_hidden_states, self.prompts.start_sequence(prompt), text, request.frames)
        return replace(result, token_times=times)
