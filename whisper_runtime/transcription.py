"""Transcription of audio of any length into timestamped segments, window by window, as Whisper does it.

`Transcription` is the seek loop without I/O: it hands out the next 30-second window (audio
and decoder prompt), takes that window's `DecodingResult`, cuts it into segments at the
timestamp tokens and moves the seek to the end of the last complete segment, so a sentence
cut by the window's edge is decoded again whole in the next window (no words lost or
doubled). With word timestamps, each segment gets its words (`whisper_runtime.words`) and the
seek moves to the end of the last word instead, as Whisper does. Whoever decodes the window
(the in-process engine, or the gateway calling Triton) drives the loop, so every path produces
the same segments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from whisper_runtime.audio import HOP_LENGTH, N_FRAMES, N_SAMPLES, SAMPLE_RATE
from whisper_runtime.decoding import DecodingResult
from whisper_runtime.languages import Task
from whisper_runtime.prompts import Prompt, PromptRules
from whisper_runtime.quality import QUALITY, compression_ratio
from whisper_runtime.segment_tokens import Cuts, cut
from whisper_runtime.tokenizer import WhisperTokenizer
from whisper_runtime.window_decoder import WindowRequest
from whisper_runtime.words import FittedSegment, fit_words, word_timings

FRAMES_PER_SECOND = SAMPLE_RATE // HOP_LENGTH  # 100 mel frames per second
FRAMES_PER_TIMESTAMP = 2  # timestamp tokens count in steps of 0.02 s
SECONDS_PER_TIMESTAMP = FRAMES_PER_TIMESTAMP / FRAMES_PER_SECOND
# A window decoded above this temperature does not condition the next one (Whisper's rule).
PROMPT_RESET_TEMPERATURE = 0.5


@dataclass(frozen=True)
class TranscriptionOptions:
    """How a recording is transcribed.

    timestamps: decode timestamp tokens and cut segments at them (always on for audio longer
        than one window; off gives one segment per window and is a little faster).
    condition_on_previous_text: prompt each window with the text before it, as Whisper does.
    initial_prompt: text that conditions the first window (OpenAI's `prompt`).
    language: the spoken language's code; None has a multilingual model detect it in the first
        window and keep it for every later one (an English-only model decodes English).
    task: transcribe, or translate into English (multilingual models).
    temperature: the first temperature each window is decoded at (0: greedy), raised by the
        decoder's fallback (`whisper_runtime.quality`); `seed` seeds the sampling.
    word_timestamps: time every word (implies timestamps).
    partial: the recording is live speech still going on, transcribed for partial text: each window is
        decoded once, without the fallback, over a shorter encoder context (`WindowRequest.partial`).
    A window counts as silence, and is skipped, by `QUALITY.is_silence`; a window whose text is
    repetitive, or that was decoded above temperature 0.5, does not condition the next one.
    """

    timestamps: bool = True
    condition_on_previous_text: bool = True
    initial_prompt: str | None = None
    language: str | None = None
    task: Task = "transcribe"
    temperature: float = 0.0
    seed: int = 0
    word_timestamps: bool = False
    partial: bool = False


@dataclass(frozen=True)
class Word:
    """One word of a segment (leading space and merged punctuation included, as Whisper writes it) and its
    times in seconds from the start of the recording."""

    word: str
    start: float
    end: float


@dataclass(frozen=True)
class Segment:
    """A stretch of speech: times in seconds from the start of the recording; the quality
    signals are those of the window it was decoded in (and the temperature it was decoded at);
    `words` only when word timestamps were asked for."""

    id: int
    seek: int  # mel frame where its window started
    start: float
    end: float
    text: str
    tokens: tuple[int, ...]
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float
    temperature: float = 0.0
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class Window:
    """Up to 30 s of the recording to decode next, and how to decode it."""

    seek: int  # first mel frame
    frames: int
    pcm: np.ndarray
    request: WindowRequest

    @property
    def offset(self) -> float:
        return self.seek / FRAMES_PER_SECOND

    @property
    def prompt(self) -> Prompt:
        return self.request.prompt


def full_text(segments: Sequence[Segment]) -> str:
    """A recording's text: its segments' texts, one space apart."""
    return " ".join(segment.text for segment in segments)


def window_seed(seed: int, seek: int) -> int:
    """The seed of one window's sampling: the request's seed and the window's first frame."""
    return (seed << 32) | seek


class Transcription:
    """The seek loop over one recording of 16 kHz mono float32 PCM."""

    def __init__(self, pcm: np.ndarray, tokenizer: WhisperTokenizer, options: TranscriptionOptions) -> None:
        self._pcm = pcm
        self._tokenizer = tokenizer
        self._prompts = PromptRules(tokenizer.special)
        self._options = options
        self._timestamps = options.timestamps or options.word_timestamps or pcm.size > N_SAMPLES
        self._total_frames = -(-pcm.size // HOP_LENGTH)
        self._seek = 0
        self._history: list[int] = (
            tokenizer.encode(" " + options.initial_prompt.strip()) if options.initial_prompt else []
        )
        self._prompt_since = 0
        self._last_speech = 0.0  # where the last word ended (word timestamps)
        self.language = options.language  # None until the first window's language is detected
        self.segments: list[Segment] = []

    @property
    def duration(self) -> float:
        return self._pcm.size / SAMPLE_RATE

    @property
    def seek(self) -> int:
        """The mel frame the next window starts at."""
        return self._seek

    @property
    def text(self) -> str:
        return full_text(self.segments)

    def next_window(self) -> Window | None:
        """The window to decode next; None when the recording is done."""
        if self._seek >= self._total_frames:
            return None
        frames = min(N_FRAMES, self._total_frames - self._seek)
        pcm = self._pcm[self._seek * HOP_LENGTH : (self._seek + frames) * HOP_LENGTH]
        options = self._options
        prompt = self._prompts.build(self._history[self._prompt_since :], self._timestamps, self.language, options.task)
        request = WindowRequest(
            prompt,
            options.temperature,
            window_seed(options.seed, self._seek),
            options.word_timestamps,
            frames,
            options.partial,
        )
        return Window(self._seek, frames, pcm, request)

    def accept(self, window: Window, result: DecodingResult) -> list[Segment]:
        """Take the decoding of `window` (the one `next_window` gave); return its new segments."""
        if window.seek != self._seek:
            raise ValueError(f"a result for the window at frame {window.seek}, but the seek is at {self._seek}")
        self.language = self.language or result.language
        if QUALITY.is_silence(result.no_speech_prob, result.avg_logprob):
            self._seek += window.frames
            self._prompt_since = len(self._history)
            return []
        tokens = list(result.tokens)
        cuts = cut(tokens, self._tokenizer.special.timestamp_begin)
        pieces, advance = self._cut(window, tokens, cuts)
        fitted = self._fit_words(window, result, pieces) if result.token_times else None
        window_compression = compression_ratio(result.text)
        new: list[Segment] = []
        for index, (start, end, tokens) in enumerate(pieces):
            text = self._tokenizer.decode(tokens)
            if not text:
                continue
            words: tuple[Word, ...] = ()
            if fitted is not None:
                start, end = fitted[index].start, fitted[index].end
                words = tuple(Word(w.word, round(w.start, 3), round(w.end, 3)) for w in fitted[index].words)
            segment = Segment(
                id=len(self.segments),
                seek=window.seek,
                start=round(start, 3),
                end=round(max(start, min(end, self.duration)), 3),
                text=text,
                tokens=tuple(tokens),
                avg_logprob=result.avg_logprob,
                compression_ratio=window_compression,
                no_speech_prob=result.no_speech_prob,
                temperature=result.temperature,
                words=words,
            )
            self.segments.append(segment)
            self._history += tokens
            new.append(segment)
        self._seek += self._word_advance(window, cuts, fitted, advance) if fitted else advance
        if (
            not self._options.condition_on_previous_text
            or QUALITY.is_repetitive(result.text)
            or result.temperature > PROMPT_RESET_TEMPERATURE
        ):
            self._prompt_since = len(self._history)
        return new

    def _fit_words(
        self, window: Window, result: DecodingResult, pieces: list[tuple[float, float, list[int]]]
    ) -> list[FittedSegment]:
        """The window's segments with their words (times in the recording)."""
        end_of_text = self._tokenizer.special.end_of_text
        texts = [[token for token in tokens if token < end_of_text] for _, _, tokens in pieces]
        text = [token for piece in texts for token in piece]  # the kept text the aligner timed
        timings, median = word_timings(self._tokenizer, text, result.token_times, result.language)
        fitted, self._last_speech = fit_words(
            [(start, end, len(piece)) for (start, end, _), piece in zip(pieces, texts, strict=True)],
            timings,
            median,
            window.offset,
            self._last_speech,
        )
        return fitted

    def _word_advance(self, window: Window, cuts: Cuts, fitted: list[FittedSegment], advance: int) -> int:
        """Where the seek moves with word timestamps: as without them when the tokens end with a single
        timestamp, else to the end of the last word (of the last segment when none has words), when that lies
        inside the window (Whisper's rule)."""
        if cuts.single_timestamp_ending:
            return advance
        words_end = (word.end for segment in reversed(fitted) for word in reversed(segment.words))
        last_end = next(words_end, fitted[-1].end if fitted else None)
        if last_end is None or last_end <= window.offset:
            return advance
        return round(last_end * FRAMES_PER_SECOND) - window.seek

    def _cut(self, window: Window, tokens: list[int], cuts: Cuts) -> tuple[list[tuple[float, float, list[int]]], int]:
        """(start, end, tokens) of each segment in a window's tokens, and how many frames to seek on."""
        begin = self._tokenizer.special.timestamp_begin
        if not cuts.paired:  # one segment for the whole window (no timestamps, or only a final one)
            timestamps = [token for token in tokens if token >= begin]
            seconds = window.frames / FRAMES_PER_SECOND
            if timestamps and timestamps[-1] != begin:
                seconds = (timestamps[-1] - begin) * SECONDS_PER_TIMESTAMP
            return [(window.offset, window.offset + seconds, tokens)], window.frames
        pieces = []
        for first, end in zip([0, *cuts.ends[:-1]], cuts.ends, strict=True):
            piece = tokens[first:end]
            start_time = window.offset + (piece[0] - begin) * SECONDS_PER_TIMESTAMP
            pieces.append((start_time, window.offset + (piece[-1] - begin) * SECONDS_PER_TIMESTAMP, piece))
        if cuts.whole_window:
            return pieces, window.frames
        # The last segment is incomplete: seek to the end of the last complete one and decode it again.
        advance = (tokens[cuts.ends[-1] - 1] - begin) * FRAMES_PER_TIMESTAMP
        return pieces, advance if advance > 0 else window.frames


DecodeWindow = Callable[[Window], DecodingResult]


def transcribe(
    pcm: np.ndarray, tokenizer: WhisperTokenizer, decode_window: DecodeWindow, options: TranscriptionOptions
) -> Iterator[Segment]:
    """Segments of `pcm` as each window is decoded by `decode_window`."""
    transcription = Transcription(pcm, tokenizer, options)
    while (window := transcription.next_window()) is not None:
        yield from transcription.accept(window, decode_window(window))
