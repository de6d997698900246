"""Error rates of transcripts against references, normalized as Whisper's evaluation does (jiwer): Whisper's
English normalizer for English, its basic normalizer for other languages, and the character error rate
for languages written without spaces between words."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache

import jiwer
from whisper_normalizer.basic import BasicTextNormalizer
from whisper_normalizer.english import EnglishTextNormalizer

# Languages written without spaces between words: scored by characters.
SPACELESS_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "my", "km", "bo"})


@cache
def _english() -> EnglishTextNormalizer:
    return EnglishTextNormalizer()


@cache
def _basic() -> BasicTextNormalizer:
    return BasicTextNormalizer()


def normalize(text: str, language: str = "en") -> str:
    return str((_english() if language == "en" else _basic())(text))


def uses_characters(language: str) -> bool:
    """Whether `language` is scored by characters (CER) rather than words (WER)."""
    return language in SPACELESS_LANGUAGES


def error_rate(references: Sequence[str], hypotheses: Sequence[str], language: str = "en") -> float:
    """Corpus WER (CER for languages without spaces) in percent over normalized texts in one language (empty
    references are skipped)."""
    return mixed_error_rate(references, hypotheses, [language] * len(references))


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus WER in percent over English texts."""
    return error_rate(references, hypotheses, "en")


def mixed_error_rate(references: Sequence[str], hypotheses: Sequence[str], languages: Sequence[str]) -> float:
    """Corpus error rate in percent over texts in several languages, each normalized for its own: the CER
    when every one is written without spaces, else the WER."""
    pairs = [
        (normalize(r, language), normalize(h, language))
        for r, h, language in zip(references, hypotheses, languages, strict=True)
    ]
    pairs = [(r, h) for r, h in pairs if r]
    measure: Callable[..., float] = jiwer.cer if all(map(uses_characters, languages)) else jiwer.wer
    return 100.0 * float(measure([r for r, _ in pairs], [h for _, h in pairs]))
