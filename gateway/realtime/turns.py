"""Turn detection (`server_vad`): where an utterance starts and where it has ended, from the speech
probability of each 32 ms frame of a live stream, as the frames arrive.

An utterance opens at the first frame at or above `threshold`, and is announced once it has lasted
`min_speech_ms` (shorter bursts, such as clicks, are dropped unannounced). It ends where the probability
has stayed below `threshold - 0.15` for `silence_duration_ms` (the end includes that silence, as
OpenAI's `audio_end_ms` does), or when it reaches `max_samples` (Whisper's 30 s window). Probabilities
between the two thresholds neither open nor end one: Silero's rule, as in whisper_runtime.vad.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from whisper_runtime.audio import SAMPLE_RATE
from whisper_runtime.vad import FRAME_SAMPLES, VadOptions


@dataclass(frozen=True)
class SpeechStarted:
    at: int  # the first sample of the speech (16 kHz samples from the start of the session)


@dataclass(frozen=True)
class SpeechStopped:
    at: int  # the sample after the utterance's last (its trailing silence included)


TurnEvent = SpeechStarted | SpeechStopped


class TurnDetector:
    """Utterance starts and ends in a stream of per-frame speech probabilities."""

    def __init__(self, options: VadOptions, max_samples: int, first: int = 0) -> None:
        """`first`: the stream position of the first frame pushed."""
        self._threshold = options.threshold
        self._negative = options.negative_threshold
        self._min_speech = SAMPLE_RATE * options.min_speech_ms // 1000
        self._min_silence = SAMPLE_RATE * options.min_silence_ms // 1000
        self._max_samples = max_samples
        self._first = first
        self._frames = 0
        self._start: int | None = None  # where the open utterance began (None: none is open)
        self._silence_from: int | None = None  # where the quiet run inside it began
        self.announced = False

    def push(self, probabilities: np.ndarray) -> list[TurnEvent]:
        """The starts and ends the frames after those already pushed reveal, in order."""
        events: list[TurnEvent] = []
        for probability in probabilities:
            at = self._first + self._frames * FRAME_SAMPLES
            end = at + FRAME_SAMPLES
            self._frames += 1
            if self._start is None:
                if probability >= self._threshold:
                    self._start, self._silence_from = at, None
                continue
            if probability >= self._threshold:
                self._silence_from = None
            elif probability < self._negative and self._silence_from is None:
                self._silence_from = at
            if not self.announced and self._silence_from is None and end - self._start >= self._min_speech:
                self.announced = True
                events.append(SpeechStarted(self._start))
            silent = self._silence_from is not None and end - self._silence_from >= self._min_silence
            if silent or (self.announced and end - self._start >= self._max_samples):
                if self.announced:
                    events.append(SpeechStopped(end))
                self.reset()
        return events

    @property
    def quiet_from(self) -> int | None:
        """Where the quiet run at the end of the open utterance began (None: none, or no utterance is open)."""
        return self._silence_from

    @property
    def open(self) -> bool:
        """Whether an utterance is open (announced or not yet)."""
        return self._start is not None

    def reset(self) -> None:
        """Forget the open utterance (it was committed or cleared); frames keep their place in the stream."""
        self._start = self._silence_from = None
        self.announced = False
