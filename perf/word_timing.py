"""Word times of two transcribers compared: which words agree, and how far apart their starts are.

Each clip's words are normalized (Whisper's English normalizer) and matched in order (difflib's
longest matching blocks), so one word more or fewer shifts nothing after it; the agreement is the
matched words over the longer of the two lists, pooled over the clips.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from perf.accuracy import normalize

TimedWord = tuple[str, float, float]  # (word, start, end) in seconds


@dataclass(frozen=True)
class WordAgreement:
    matched: int
    words: int  # the longer list's words, summed over the clips
    start_differences: tuple[float, ...]  # |ours - theirs| in seconds, per matched word
    end_differences: tuple[float, ...]

    @property
    def fraction(self) -> float:
        return self.matched / self.words if self.words else 1.0

    def start_percentile_ms(self, percentile: float) -> float:
        return 1000 * float(np.percentile(self.start_differences, percentile)) if self.start_differences else 0.0

    def summary(self) -> str:
        return (
            f"{self.matched}/{self.words} words agree ({self.fraction:.1%}); |start difference| median "
            f"{self.start_percentile_ms(50):.0f} ms, p95 {self.start_percentile_ms(95):.0f} ms"
        )


def _normalized(words: Sequence[TimedWord]) -> list[TimedWord]:
    normalized = ((normalize(word), start, end) for word, start, end in words)
    return [(word, start, end) for word, start, end in normalized if word]


def compare_words(ours: Sequence[Sequence[TimedWord]], theirs: Sequence[Sequence[TimedWord]]) -> WordAgreement:
    """The agreement of two transcribers' words over the same clips (one list of words per clip each)."""
    matched, words, starts, ends = 0, 0, [], []
    for clip_ours, clip_theirs in zip(ours, theirs, strict=True):
        mine, other = _normalized(clip_ours), _normalized(clip_theirs)
        matcher = difflib.SequenceMatcher(a=[w for w, _, _ in mine], b=[w for w, _, _ in other], autojunk=False)
        for block in matcher.get_matching_blocks():
            for offset in range(block.size):
                (_, start, end), (_, their_start, their_end) = mine[block.a + offset], other[block.b + offset]
                starts.append(abs(start - their_start))
                ends.append(abs(end - their_end))
                matched += 1
        words += max(len(mine), len(other))
    return WordAgreement(matched, words, tuple(starts), tuple(ends))
