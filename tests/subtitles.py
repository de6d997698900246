"""Our srt and vtt read back with independent parsers (`srt`, `webvtt-py`)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import srt
import webvtt


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


def parse_subtitles(body: str, response_format: str) -> list[Cue]:
    """The cues of an srt or vtt document; the parsers raise on malformed input."""
    if response_format == "srt":
        return [
            Cue(s.start.total_seconds(), s.end.total_seconds(), s.content) for s in srt.parse(body, ignore_errors=False)
        ]
    return [Cue(_seconds(c.start), _seconds(c.end), c.text) for c in webvtt.from_buffer(io.StringIO(body))]


def _seconds(timestamp: str) -> float:
    """Seconds of a vtt timestamp, HH:MM:SS.mmm, to the millisecond."""
    hours, minutes, seconds = timestamp.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
