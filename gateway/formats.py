"""Rendering a transcript in OpenAI's response formats: json, text, srt, vtt, verbose_json."""

from __future__ import annotations

import math
from dataclasses import dataclass

from aiohttp import web

from gateway.params import ResponseFormat


@dataclass(frozen=True)
class Segment:
    id: int
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcript:
    text: str
    duration: float
    segments: tuple[Segment, ...]
    language: str = "english"

    @classmethod
    def single_window(cls, text: str, duration: float) -> Transcript:
        """A clip decoded in one window without timestamps: one segment spanning the clip."""
        return cls(text=text, duration=duration, segments=(Segment(0, 0.0, duration, text),) if text else ())


def _timestamp(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def to_srt(transcript: Transcript) -> str:
    return "".join(
        f"{index}\n{_timestamp(s.start, ',')} --> {_timestamp(s.end, ',')}\n{s.text.strip()}\n\n"
        for index, s in enumerate(transcript.segments, start=1)
    )


def to_vtt(transcript: Transcript) -> str:
    cues = "".join(
        f"{_timestamp(s.start, '.')} --> {_timestamp(s.end, '.')}\n{s.text.strip()}\n\n" for s in transcript.segments
    )
    return f"WEBVTT\n\n{cues}"


def to_verbose_json(transcript: Transcript) -> dict[str, object]:
    return {
        "task": "transcribe",
        "language": transcript.language,
        "duration": round(transcript.duration, 3),
        "text": transcript.text,
        "segments": [
            {"id": s.id, "seek": 0, "start": round(s.start, 3), "end": round(s.end, 3), "text": s.text}
            for s in transcript.segments
        ],
    }


def render(transcript: Transcript, response_format: ResponseFormat) -> web.Response:
    if response_format == "json":
        usage = {"type": "duration", "seconds": math.ceil(transcript.duration)}
        return web.json_response({"text": transcript.text, "usage": usage})
    if response_format == "verbose_json":
        return web.json_response(to_verbose_json(transcript))
    if response_format == "srt":
        return web.Response(text=to_srt(transcript), content_type="application/x-subrip")
    if response_format == "vtt":
        return web.Response(text=to_vtt(transcript), content_type="text/vtt")
    return web.Response(text=transcript.text + "\n", content_type="text/plain")
