"""Whether a decoded window is good enough to keep, and the temperatures tried until it is.

Whisper's rules (OpenAI's `temperature` semantics): a window whose text compresses too well (a
repetition loop) or whose mean log-probability is too low is decoded again at a higher
temperature, from the request's temperature in steps of 0.2 up to 1.0, and the last decoding is
kept; a window that looks like silence (likely <|nospeech|> and a low log-probability) is not
retried, and the seek loop skips it.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

TEMPERATURE_STEP = 0.2
MAX_TEMPERATURE = 1.0


def compression_ratio(text: str) -> float:
    """How well `text` compresses: high values mean repetition."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def temperature_schedule(first: float) -> tuple[float, ...]:
    """The temperatures a window may be decoded at, in order: `first`, then up in steps of 0.2 to 1.0."""
    steps = math.floor((MAX_TEMPERATURE - first) / TEMPERATURE_STEP + 1e-9)
    return tuple(round(first + step * TEMPERATURE_STEP, 6) for step in range(max(0, steps) + 1))


@dataclass(frozen=True)
class QualityThresholds:
    no_speech: float = 0.6
    logprob: float = -1.0
    compression_ratio: float = 2.4

    def is_silence(self, no_speech_prob: float, avg_logprob: float) -> bool:
        return no_speech_prob > self.no_speech and avg_logprob < self.logprob

    def is_repetitive(self, text: str) -> bool:
        return compression_ratio(text) > self.compression_ratio

    def needs_fallback(self, text: str, avg_logprob: float, no_speech_prob: float) -> bool:
        """Whether a decoding should be tried again at a higher temperature."""
        if self.is_silence(no_speech_prob, avg_logprob):
            return False
        return self.is_repetitive(text) or avg_logprob < self.logprob


QUALITY = QualityThresholds()  # Whisper's and OpenAI's defaults, used by the decoder and the seek loop alike
