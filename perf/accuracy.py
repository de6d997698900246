"""Word error rate with Whisper's English normalizer applied to both sides (jiwer)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import jiwer
from whisper_normalizer.english import EnglishTextNormalizer


@cache
def _normalizer() -> EnglishTextNormalizer:
    return EnglishTextNormalizer()


def normalize(text: str) -> str:
    return str(_normalizer()(text))


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus WER in percent over normalized texts (empty references are skipped)."""
    pairs = [(normalize(r), normalize(h)) for r, h in zip(references, hypotheses, strict=True)]
    pairs = [(r, h) for r, h in pairs if r]
    return 100.0 * float(jiwer.wer([r for r, _ in pairs], [h for _, h in pairs]))
