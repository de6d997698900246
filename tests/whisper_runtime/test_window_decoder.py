"""The window decoder's pieces that need no model: the candidates per temperature and which one is kept."""

from __future__ import annotations

from whisper_runtime.decoding import GREEDY, DecodingResult
from whisper_runtime.quality import temperature_schedule
from whisper_runtime.window_decoder import BEST_OF, candidates, likeliest


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
