"""Transcription of audio of any length into timestamped segments, window by window, as Whisper does it.

`Transcription` is the seek loop without I/O: it hands out the next 30-second window (audio
and decoder prompt), takes that window's `DecodingResult`, cuts it into segments at the
timestamp tokens and moves the seek to the end of the last complete segment, so a sentence
cut by the window's edge is decoded again whole in the next window (no words lost or
doubled). Whoever decodes the window (the in-process engine, or the gateway calling Triton)
drives the loop, so every path produces the same segments.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from whisper_runtime.audio import HOP_LENGTH, N_FRAMES, N_SAMPLES, SAMPLE_RATE
from whisper_runtime.decoding import DecodingResult
from whisper_runtime.languages import Task
from whisper_runtime.prompts import Prompt, PromptRules
from whisper_runtime.tokenizer import WhisperTokenizer

FRAMES_PER_SECOND = SAMPLE_RATE // HOP_LENGTH  # 100 mel frames per second
FRAMES_PER_TIMESTAMP = 2  # timestamp tokens count in steps of 0.02 s
SECONDS_PER_TIMESTAMP = FRAMES_PER_TIMESTAMP / FRAMES_PER_SECOND


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
    A window counts as silence, and is skipped, when its no-speech probability is above
    `no_speech_threshold` and its mean log-probability below `logprob_threshold`. A window
    whose text compresses better than `compression_ratio_threshold` (a repetition loop) does
    not condition the next one.
    """

    timestamps: bool = True
    condition_on_previous_text: bool = True
    initial_prompt: str | None = None
    language: str | None = None
    task: Task = "transcribe"
    no_speech_threshold: float = 0.6
    logprob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4


@dataclass(frozen=True)
class Segment:
    """A stretch of speech: times in seconds from the start of the recording; the quality
    signals are those of the window it was decoded in."""

    id: int
    seek: int  # mel frame where its window started
    start: float
    end: float
    text: str
    tokens: tuple[int, ...]
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float


@dataclass(frozen=True)
class Window:
    """Up to 30 s of the recording to decode next, and the prompt to decode it from."""

    seek: int  # first mel frame
    frames: int
    pcm: np.ndarray
    prompt: Prompt

    @property
    def offset(self) -> float:
        return self.seek / FRAMES_PER_SECOND


def full_text(segments: Sequence[Segment]) -> str:
    """A recording's text: its segments' texts, one space apart."""
    return " ".join(segment.text for segment in segments)


def compression_ratio(text: str) -> float:
    """How well `text` compresses: high values mean repetition."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


class Transcription:
    """The seek loop over one recording of 16 kHz mono float32 PCM."""

    def __init__(self, pcm: np.ndarray, tokenizer: WhisperTokenizer, options: TranscriptionOptions) -> None:
        self._pcm = pcm
        self._tokenizer = tokenizer
        self._prompts = PromptRules(tokenizer.special)
        self._options = options
        self._timestamps = options.timestamps or pcm.size > N_SAMPLES
        self._total_frames = -(-pcm.size // HOP_LENGTH)
        self._seek = 0
        self._history: list[int] = (
            tokenizer.encode(" " + options.initial_prompt.strip()) if options.initial_prompt else []
        )
        self._prompt_since = 0
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
        prompt = self._prompts.build(
            self._history[self._prompt_since :], self._timestamps, self.language, self._options.task
        )
        return Window(self._seek, frames, pcm, prompt)

    def accept(self, window: Window, result: DecodingResult) -> list[Segment]:
        """Take the decoding of `window` (the one `next_window` gave); return its new segments."""
        if window.seek != self._seek:
            raise ValueError(f"a result for the window at frame {window.seek}, but the seek is at {self._seek}")
        options = self._options
        self.language = self.language or result.language
        silent = result.no_speech_prob > options.no_speech_threshold and result.avg_logprob < options.logprob_threshold
        if silent:
            self._seek += window.frames
            self._prompt_since = len(self._history)
            return []
        pieces, advance = self._cut(window, list(result.tokens))
        window_compression = compression_ratio(result.text)
        new: list[Segment] = []
        for start, end, tokens in pieces:
            text = self._tokenizer.decode(tokens)
            if not text:
                continue
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
            )
            self.segments.append(segment)
            self._history += tokens
            new.append(segment)
        self._seek += advance
        if not options.condition_on_previous_text or window_compression > options.compression_ratio_threshold:
            self._prompt_since = len(self._history)
        return new

    def _cut(self, window: Window, tokens: list[int]) -> tuple[list[tuple[float, float, list[int]]], int]:
        """(start, end, tokens) of each segment in a window's tokens, and how many frames to seek on."""
        begin = self._tokenizer.special.timestamp_begin
        is_timestamp = [token >= begin for token in tokens]
        ends_with_single_timestamp = is_timestamp[-2:] == [False, True]
        pair_ends = [i + 1 for i in range(len(tokens) - 1) if is_timestamp[i] and is_timestamp[i + 1]]
        if not pair_ends:  # one segment for the whole window (no timestamps, or only a final one)
            timestamps = [token for token in tokens if token >= begin]
            seconds = window.frames / FRAMES_PER_SECOND
            if timestamps and timestamps[-1] != begin:
                seconds = (timestamps[-1] - begin) * SECONDS_PER_TIMESTAMP
            return [(window.offset, window.offset + seconds, tokens)], window.frames
        cuts = pair_ends + ([len(tokens)] if ends_with_single_timestamp else [])
        pieces = []
        for first, end in zip([0, *cuts[:-1]], cuts, strict=True):
            piece = tokens[first:end]
            start_time = window.offset + (piece[0] - begin) * SECONDS_PER_TIMESTAMP
            pieces.append((start_time, window.offset + (piece[-1] - begin) * SECONDS_PER_TIMESTAMP, piece))
        if ends_with_single_timestamp:
            return pieces, window.frames
        # The last segment is incomplete: seek to the end of the last complete one and decode it again.
        advance = (tokens[cuts[-1] - 1] - begin) * FRAMES_PER_TIMESTAMP
        return pieces, advance if advance > 0 else window.frames


DecodeWindow = Callable[[Window], DecodingResult]


def transcribe(
    pcm: np.ndarray, tokenizer: WhisperTokenizer, decode_window: DecodeWindow, options: TranscriptionOptions
) -> Iterator[Segment]:
    """Segments of `pcm` as each window is decoded by `decode_window`."""
    transcription = Transcription(pcm, tokenizer, options)
    while (window := transcription.next_window()) is not None:
        yield from transcription.accept(window, decode_window(window))
