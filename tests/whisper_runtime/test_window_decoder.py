"""The window decoder's pieces that need no model: the candidates per temperature, which one is kept, and what
a partial hypothesis is decoded with."""

from __future__ import annotations

import pytest

from whisper_runtime.audio import N_SAMPLES, SAMPLE_RATE
from whisper_runtime.decoding import GREEDY, DecodingResult
from whisper_runtime.errors import InvalidInputError
from whisper_runtime.features import context_samples
from whisper_runtime.quality import temperature_schedule
from whisper_runtime.window_decoder import BEST_OF, WindowRequest, candidates, likeliest


def _result(tokens: int, avg_logprob: float) -> DecodingResult:
    return DecodingResult(tuple(range(tokens)), "x", avg_logprob, 0.0, "en")


def test_greedy_is_one_candidate_and_sampling_five_with_their_own_draws() -> None:
    assert candidates(0.0, seed=1) == [GREEDY]
    sampled = candidates(0.4, seed=1)
    assert len(sampled) == BEST_OF and all(c.temperature == 0.4 for c in sampled)
    draws = [c.generator.random() for c in sampled if c.generator is not None]
    assert len(set(draws)) == BEST_OF
    assert draws == [c.generator.random() for c in candidates(0.4, seed=1) if c.generator is not None]
    assert draws != [c.generator.random() for c in candidates(0.4, seed=2) if c.generator is not None]


def test_the_likeliest_candidate_per_token_is_kept() -> None:
    short_sure, long_unsure = _result(3, -0.2), _result(30, -0.9)  # sums: -0.8 over 3 tokens, -27.9 over 30
    assert likeliest([long_unsure, short_sure]) is short_sure
    first, equal = _result(4, -0.5), _result(4, -0.5)
    assert likeliest([first, equal]) is first


def test_the_schedule_rises_from_the_first_temperature_to_one() -> None:
    assert temperature_schedule(0.0) == (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    assert temperature_schedule(0.5) == (0.5, 0.7, 0.9)
    assert temperature_schedule(0.3) == (0.3, 0.5, 0.7, 0.9)
    assert temperature_schedule(0.9) == (0.9,)
    assert temperature_schedule(1.0) == (1.0,)


def test_a_partial_hypothesis_is_decoded_once_without_word_times() -> None:
    prompt = (1, 2, 3)
    assert WindowRequest(prompt).schedule == temperature_schedule(0.0)
    assert WindowRequest(prompt, partial=True).schedule == (0.0,)
    assert WindowRequest(prompt, temperature=0.4, partial=True).schedule == (0.4,)
    with pytest.raises(InvalidInputError, match="without word timestamps"):
        WindowRequest(prompt, word_timestamps=True, partial=True)


@pytest.mark.parametrize(
    ("seconds", "context_s"), [(0.3, 10), (3.0, 10), (9.0, 10), (9.01, 11), (14.5, 16), (28.9, 30), (30.0, 30)]
)
def test_a_partial_context_holds_the_audio_and_a_second_more_and_at_least_ten(seconds: float, context_s: int) -> None:
    samples = round(seconds * SAMPLE_RATE)
    assert context_samples(samples, partial=True) == context_s * SAMPLE_RATE
    assert context_samples(samples, partial=False) == N_SAMPLES
