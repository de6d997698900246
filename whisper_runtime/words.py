"""Words and their times from a window's token times, as Whisper builds them.

A window's text tokens are grouped into words (at spaces and punctuation; at every complete
character for languages written without spaces); a word runs from its first token's time to the
next word's. Very long words at sentence ends are shortened, punctuation is merged into the
neighbouring word, and each segment's first and last word are reconciled with the segment's own
timestamps (`fit_words`).
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from whisper_runtime.tokenizer import WhisperTokenizer

PREPEND_PUNCTUATION = "\"'“¿([{-"
APPEND_PUNCTUATION = "\"'.。,，!！?？:：”)]}、"  # noqa: RUF001  # Whisper's marks, full-width ones included
SENTENCE_END_MARKS = ".。!！?？"  # noqa: RUF001
UNSPACED_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "my", "yue"})
MAX_MEDIAN_DURATION = 0.7  # seconds
REPLACEMENT_CHARACTER = "\ufffd"


@dataclass
class WordTiming:
    """A word being built: its text, tokens and times in seconds from the window's start."""

    word: str
    tokens: list[int] = field(default_factory=list)
    start: float = 0.0
    end: float = 0.0


def _split_at_characters(tokenizer: WhisperTokenizer, tokens: Sequence[int]) -> list[tuple[str, list[int]]]:
    """Pieces of `tokens` that each decode to whole characters (a character may span several tokens)."""
    whole = tokenizer.decode_piece(tokens)
    pieces: list[tuple[str, list[int]]] = []
    current: list[int] = []
    offset = 0
    for token in tokens:
        current.append(token)
        text = tokenizer.decode_piece(current)
        incomplete = REPLACEMENT_CHARACTER in text
        if not incomplete or whole[offset + text.index(REPLACEMENT_CHARACTER)] == REPLACEMENT_CHARACTER:
            pieces.append((text, current))
            current = []
            offset += len(text)
    return pieces


def split_words(tokenizer: WhisperTokenizer, tokens: Sequence[int], language: str) -> list[tuple[str, list[int]]]:
    """(word, its tokens) for text tokens: a new word at a leading space or a punctuation mark (every
    character in languages written without spaces)."""
    pieces = _split_at_characters(tokenizer, tokens)
    if language in UNSPACED_LANGUAGES:
        return pieces
    words: list[tuple[str, list[int]]] = []
    for text, piece in pieces:
        if not words or text.startswith(" ") or text.strip() in string.punctuation:
            words.append((text, list(piece)))
        else:
            words[-1] = (words[-1][0] + text, words[-1][1] + piece)
    return words


def word_timings(
    tokenizer: WhisperTokenizer, text: Sequence[int], times: Sequence[float], language: str
) -> tuple[list[WordTiming], float]:
    """The words of one window's text tokens with their times (`times`: each token's start, then the end),
    and the window's median word duration (before any word is shortened)."""
    if not text:
        return [], 0.0
    words = split_words(tokenizer, text, language)
    boundaries = np.cumsum([0, *(len(tokens) for _, tokens in words)])
    timings = [
        WordTiming(word, tokens, float(times[first]), float(times[end]))
        for (word, tokens), first, end in zip(words, boundaries[:-1], boundaries[1:], strict=True)
    ]
    median = median_duration(timings)
    _shorten_sentence_ends(timings, median)
    merge_punctuation(timings)
    return timings, median


def median_duration(timings: Sequence[WordTiming]) -> float:
    """The median duration of the words that have one, at most MAX_MEDIAN_DURATION (0 without any)."""
    durations = [timing.end - timing.start for timing in timings if timing.end != timing.start]
    return min(MAX_MEDIAN_DURATION, float(np.median(durations))) if durations else 0.0


def _shorten_sentence_ends(timings: list[WordTiming], median: float) -> None:
    """A sentence mark, or a word after one, lasts at most twice the median word."""
    if median == 0.0:
        return
    longest = 2 * median
    for previous, timing in itertools.pairwise(timings):
        if timing.end - timing.start > longest:
            if timing.word in SENTENCE_END_MARKS:
                timing.end = timing.start + longest
            elif previous.word in SENTENCE_END_MARKS:
                timing.start = timing.end - longest


def merge_punctuation(timings: list[WordTiming]) -> None:
    """Opening marks join the word after them, closing marks the word before (the mark's entry is emptied)."""
    following = len(timings) - 1
    for index in range(len(timings) - 2, -1, -1):
        previous = timings[index]
        if previous.word.startswith(" ") and previous.word.strip() in PREPEND_PUNCTUATION:
            timings[following].word = previous.word + timings[following].word
            timings[following].tokens = previous.tokens + timings[following].tokens
            previous.word, previous.tokens = "", []
        else:
            following = index
    kept = 0
    for index in range(1, len(timings)):
        previous, timing = timings[kept], timings[index]
        if not previous.word.endswith(" ") and timing.word in APPEND_PUNCTUATION:
            previous.word += timing.word
            previous.tokens = previous.tokens + timing.tokens
            timing.word, timing.tokens = "", []
        else:
            kept = index


@dataclass
class FittedSegment:
    """A segment's times (seconds in the recording) and its words, as `fit_words` leaves them."""

    start: float
    end: float
    words: list[WordTiming]


def fit_words(
    segments: Sequence[tuple[float, float, int]],
    timings: Sequence[WordTiming],
    median: float,
    offset: float,
    last_speech: float,
) -> tuple[list[FittedSegment], float]:
    """Hand each segment (start, end, text token count) its words, moved to the recording's timeline by
    `offset` and rounded to 10 ms; shorten a first word after a pause that is too long, and let the
    segment's timestamps and its first and last words agree. Returns the segments and the end of the last
    speech (for the next window)."""
    longest = 2 * median
    fitted: list[FittedSegment] = []
    index = 0
    for start, end, text_tokens in segments:
        words: list[WordTiming] = []
        taken = 0
        while index < len(timings) and taken < text_tokens:
            timing = timings[index]
            if timing.word:
                words.append(
                    WordTiming(
                        timing.word, timing.tokens, round(offset + timing.start, 2), round(offset + timing.end, 2)
                    )
                )
            taken += len(timing.tokens)
            index += 1
        segment = FittedSegment(start, end, words)
        if words:
            _shorten_first_word(words, median, longest, last_speech)
            _agree_with_segment(segment, median)
            last_speech = segment.end
        fitted.append(segment)
    return fitted, last_speech


def _shorten_first_word(words: list[WordTiming], median: float, longest: float, last_speech: float) -> None:
    """After a pause, the first word (and the second) lasts at most twice the median word."""
    first = words[0]
    second = words[1] if len(words) > 1 else None
    too_long = first.end - first.start > longest or (second is not None and second.end - first.start > 2 * longest)
    if first.end - last_speech > 4 * median and too_long:
        if second is not None and second.end - second.start > longest:
            boundary = max(second.end / 2, second.end - longest)
            first.end = second.start = boundary
        first.start = max(0.0, first.end - longest)


def _agree_with_segment(segment: FittedSegment, median: float) -> None:
    """Prefer the segment's timestamps where its first or last word runs far past them; else take the
    words' times as the segment's."""
    first, last = segment.words[0], segment.words[-1]
    if segment.start < first.end and segment.start - 0.5 > first.start:
        first.start = max(0.0, min(first.end - median, segment.start))
    else:
        segment.start = first.start
    if segment.end > last.start and segment.end + 0.5 < last.end:
        last.end = max(last.start + median, segment.end)
    else:
        segment.end = last.end
