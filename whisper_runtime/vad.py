"""Voice activity detection: where a recording holds speech (Silero VAD over ONNX Runtime), the
speech-only audio cut from it, and the way back from times in that audio to times in the recording.

Silero VAD gives one speech probability per frame of 512 samples (32 ms at 16 kHz). A span of
speech opens at the first frame at or above `threshold`, and closes where the probability first
fell below `threshold - 0.15` once it has stayed there for `min_silence_ms` (probabilities between
the two thresholds neither open nor close a span). Spans shorter than `min_speech_ms` are dropped;
a span longer than `max_speech_s` is cut at its last pause of about 100 ms, or at the limit when it
has none. Each span is then padded by `speech_pad_ms` on both sides; where two spans lie closer
than twice the padding, the gap between them is split between the two. These are the semantics of
Silero's `get_speech_timestamps` (and of faster-whisper's VAD filter on the same model).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from whisper_runtime.audio import SAMPLE_RATE
from whisper_runtime.errors import ModelFilesError
from whisper_runtime.repository import file_sha256, recorded_sha256
from whisper_runtime.sessions import ModelSession, SessionOptions, create_session
from whisper_runtime.transcription import FRAMES_PER_SECOND, Segment, Word

FRAME_SAMPLES = 512  # the model's step: one probability per 32 ms
CONTEXT_SAMPLES = 64  # each frame is given the last samples of the frame before it
STATE_SHAPE = (1, 1, 128)  # the LSTM's hidden and cell state
FRAMES_PER_RUN = 2048  # about 65 s of audio per session call: bounded memory for long recordings
NEGATIVE_THRESHOLD_GAP = 0.15  # a span closes below threshold - 0.15
MIN_NEGATIVE_THRESHOLD = 0.01
SPLIT_PAUSE_SAMPLES = SAMPLE_RATE * 98 // 1000  # a pause this long is a place to cut an over-long span


@dataclass(frozen=True)
class VadOptions:
    """How speech spans are found; the defaults are Silero's, but `max_speech_s` (no limit)."""

    threshold: float = 0.5
    min_speech_ms: int = 250
    min_silence_ms: int = 100
    speech_pad_ms: int = 30
    max_speech_s: float = math.inf

    @property
    def negative_threshold(self) -> float:
        return max(self.threshold - NEGATIVE_THRESHOLD_GAP, MIN_NEGATIVE_THRESHOLD)


@dataclass(frozen=True)
class Span:
    """Samples [start, end) of the recording."""

    start: int
    end: int

    @property
    def samples(self) -> int:
        return self.end - self.start


def _samples(milliseconds: float) -> int:
    return int(SAMPLE_RATE * milliseconds / 1000)


def speech_spans(probabilities: np.ndarray, total_samples: int, options: VadOptions) -> list[Span]:
    """Padded spans of speech in a recording of `total_samples`, from its per-frame speech probabilities."""
    threshold, negative = options.threshold, options.negative_threshold
    min_silence, min_speech = _samples(options.min_silence_ms), _samples(options.min_speech_ms)
    pad = _samples(options.speech_pad_ms)
    # Room for the padding and one frame, so that a padded span stays within max_speech_s.
    max_speech = SAMPLE_RATE * options.max_speech_s - FRAME_SAMPLES - 2 * pad
    spans: list[Span] = []
    start: int | None = None  # where the open span began (None: no span is open)
    silence_from = 0  # where the quiet run inside the open span began (0: none)
    pause_start = 0  # where the open span's last pause of over ~100 ms began: a place to cut it (0: none)
    resumed_at = 0  # where speech came back after that pause

    for index, probability in enumerate(np.asarray(probabilities, dtype=np.float32).reshape(-1)):
        at = index * FRAME_SAMPLES
        if probability >= threshold and silence_from:
            silence_from = 0  # the pause is over: the span goes on
            if resumed_at < pause_start:
                resumed_at = at
        if start is None:
            if probability >= threshold:
                start = at
            continue
        if at - start > max_speech:
            if pause_start:  # cut at the last pause, and go on from where speech resumed after it
                spans.append(Span(start, pause_start))
                start = None if resumed_at < pause_start else resumed_at
            else:  # no pause to cut at: cut here
                spans.append(Span(start, at))
                start = None
            silence_from = pause_start = resumed_at = 0
            if start is None:
                continue
        if probability < negative:
            silence_from = silence_from or at
            if at - silence_from > SPLIT_PAUSE_SAMPLES:
                pause_start = silence_from
            if at - silence_from >= min_silence:
                if silence_from - start > min_speech:
                    spans.append(Span(start, silence_from))
                start = None
                silence_from = pause_start = resumed_at = 0
    if start is not None and total_samples - start > min_speech:
        spans.append(Span(start, total_samples))
    return _padded(spans, pad, total_samples)


def _padded(spans: Sequence[Span], pad: int, total_samples: int) -> list[Span]:
    """`spans` widened by `pad` on each side, a gap narrower than two pads split between its neighbours."""
    starts = [span.start for span in spans]
    ends = [span.end for span in spans]
    for i in range(len(spans)):
        if i == 0:
            starts[0] = max(0, starts[0] - pad)
        if i + 1 < len(spans):
            gap = starts[i + 1] - ends[i]
            share = gap // 2 if gap < 2 * pad else pad
            ends[i] += share
            starts[i + 1] = max(0, starts[i + 1] - share)
        else:
            ends[i] = min(total_samples, ends[i] + pad)
    return [Span(start, end) for start, end in zip(starts, ends, strict=True)]


@dataclass(frozen=True)
class SpeechTimeline:
    """The speech spans of a recording, laid end to end as speech-only audio, and the way back to the
    recording's own times. A time inside a span's stretch of the speech-only audio maps into that span;
    a time on the seam between two spans maps to the later one's start as a start time and to the
    earlier one's end as an end time."""

    spans: tuple[Span, ...]
    total_samples: int

    @property
    def speech_samples(self) -> int:
        return sum(span.samples for span in self.spans)

    @property
    def speech_seconds(self) -> float:
        return self.speech_samples / SAMPLE_RATE

    def speech_audio(self, pcm: np.ndarray) -> np.ndarray:
        """The speech-only audio: the spans of `pcm`, end to end."""
        if not self.spans:
            return pcm[:0]
        return np.concatenate([pcm[span.start : span.end] for span in self.spans])

    @cached_property
    def _speech_ends(self) -> list[int]:
        """Where each span ends in the speech-only audio (samples)."""
        return list(itertools.accumulate(span.samples for span in self.spans))

    def original_seconds(self, seconds: float, is_end: bool = False) -> float:
        """The time in the recording of `seconds` into the speech-only audio (an end time if `is_end`)."""
        if not self.spans:
            return 0.0
        ends = self._speech_ends
        sample = min(max(round(seconds * SAMPLE_RATE), 0), ends[-1])
        index = min((bisect.bisect_left if is_end else bisect.bisect_right)(ends, sample), len(ends) - 1)
        span = self.spans[index]
        return (span.end - (ends[index] - sample)) / SAMPLE_RATE

    def _interval(self, start: float, end: float) -> tuple[float, float]:
        """A start and an end time in the recording, never in the wrong order (both on one seam)."""
        first = round(self.original_seconds(start), 3)
        return first, max(first, round(self.original_seconds(end, is_end=True), 3))

    def _word(self, word: Word) -> Word:
        start, end = self._interval(word.start, word.end)
        return replace(word, start=start, end=end)

    def original_segment(self, segment: Segment) -> Segment:
        """`segment`, decoded from the speech-only audio, with its times, its words' times and its `seek` (the
        mel frame where its window began) in the recording's timeline."""
        start, end = self._interval(segment.start, segment.end)
        window_start = self.original_seconds(segment.seek / FRAMES_PER_SECOND)
        return replace(
            segment,
            seek=math.floor(window_start * FRAMES_PER_SECOND),  # the frame that holds it
            start=start,
            end=end,
            words=tuple(self._word(word) for word in segment.words),
        )


class SpeechDetector:
    """Silero VAD's ONNX model on one CPU thread (its LSTM steps one frame at a time); one instance may
    serve many threads at once (ONNX Runtime runs a session concurrently, and releases the GIL)."""

    def __init__(self, model: Path) -> None:
        self._session = create_session(model, SessionOptions(intra_op_threads=1, providers=("CPUExecutionProvider",)))

    @classmethod
    def load(cls, model: Path) -> SpeechDetector:
        """The model at `model`, checked against the sha256 the export recorded beside it."""
        if not model.is_file():
            raise ModelFilesError(f"{model} does not exist: run the export first (make export)")
        expected = recorded_sha256(model)
        if expected is None:
            raise ModelFilesError(f"{model} has no recorded sha256 beside it: run the export again (make export)")
        if file_sha256(model) != expected:
            raise ModelFilesError(f"{model} does not match its recorded sha256: run the export again (make export)")
        return cls(model)

    def probabilities(self, pcm: np.ndarray) -> np.ndarray:
        """One speech probability per 512 samples of 16 kHz `pcm` (the last frame zero-padded)."""
        stream = self.stream()
        return np.concatenate([stream.push(pcm), stream.finish()])

    def timeline(self, pcm: np.ndarray, options: VadOptions) -> SpeechTimeline:
        """The speech spans of `pcm`."""
        spans = speech_spans(self.probabilities(pcm), pcm.size, options)
        return SpeechTimeline(tuple(spans), pcm.size)

    def stream(self) -> SpeechStream:
        """A detector for audio that arrives in pieces (a live stream), with state of its own."""
        return SpeechStream(self._session)


class SpeechStream:
    """Speech probabilities of audio pushed in pieces of any size: the same probabilities, frame for frame,
    as `SpeechDetector.probabilities` of the whole audio (the model's state and context carried over)."""

    def __init__(self, session: ModelSession) -> None:
        self._session = session
        self._pending = np.zeros(0, dtype=np.float32)  # samples short of a whole frame
        self._context = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)
        self._hidden = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._cell = np.zeros(STATE_SHAPE, dtype=np.float32)

    def push(self, pcm: np.ndarray) -> np.ndarray:
        """The probabilities of the frames `pcm` completes (none while under a frame is pending)."""
        samples = np.concatenate([self._pending, np.asarray(pcm, dtype=np.float32).reshape(-1)])
        whole = samples.size - samples.size % FRAME_SAMPLES
        self._pending = samples[whole:]
        if whole == 0:
            return np.zeros(0, dtype=np.float32)
        frames = samples[:whole].reshape(-1, FRAME_SAMPLES)
        context = np.concatenate([self._context[None, :], frames[:-1, -CONTEXT_SAMPLES:]])
        self._context = frames[-1, -CONTEXT_SAMPLES:].copy()
        outputs = []
        rows = np.concatenate([context, frames], axis=1)
        for first in range(0, len(rows), FRAMES_PER_RUN):
            feed = {"input": rows[first : first + FRAMES_PER_RUN], "h": self._hidden, "c": self._cell}
            probabilities, self._hidden, self._cell = self._session.run(None, feed)
            outputs.append(np.asarray(probabilities, dtype=np.float32).reshape(-1))
        return np.concatenate(outputs)

    def finish(self) -> np.ndarray:
        """The probability of the pending samples as one last zero-padded frame (none when nothing is pending)."""
        if self._pending.size == 0:
            return np.zeros(0, dtype=np.float32)
        return self.push(np.zeros(FRAME_SAMPLES - self._pending.size, dtype=np.float32))
