"""Rendering a transcript in OpenAI's response formats: json, text, srt, vtt, verbose_json."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from gateway.params import ResponseFormat
from whisper_runtime.languages import LANGUAGES, Task
from whisper_runtime.transcription import Segment, full_text

# Formats that carry segment times: requests for them decode with timestamp tokens.
SEGMENT_FORMATS: tuple[ResponseFormat, ...] = ("srt", "vtt", "verbose_json")


@dataclass(frozen=True)
class Transcript:
    """A request's result; `language` is the code of the spoken language (given, or detected)."""

    text: str
    duration: float
    segments: tuple[Segment, ...]
    language: str
    task: Task = "transcribe"
    word_timestamps: bool = False  # verbose_json lists the words

    @classmethod
    def of(
        cls, segments: Sequence[Segment], duration: float, language: str, task: Task, word_timestamps: bool = False
    ) -> Transcript:
        return cls(full_text(segments), duration, tuple(segments), language, task, word_timestamps)


def _timestamp(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def to_srt(transcript: Transcript) -> str:
    return "".join(
        f"{index}\n{_timestamp(s.start, ',')} --> {_timestamp(s.end, ',')}\n{s.text}\n\n"
        for index, s in enumerate(transcript.segments, start=1)
    )


def to_vtt(transcript: Transcript) -> str:
    cues = "".join(
        f"{_timestamp(s.start, '.')} --> {_timestamp(s.end, '.')}\n{s.text}\n\n" for s in transcript.segments
    )
    return f"WEBVTT\n\n{cues}"


def segment_json(segment: Segment) -> dict[str, object]:
    """A segment as OpenAI's verbose_json has it."""
    return {
        "id": segment.id,
        "seek": segment.seek,
        "start": segment.start,
        "end": segment.end,
        "text": segment.text,
        "tokens": list(segment.tokens),
        "temperature": segment.temperature,
        "avg_logprob": round(segment.avg_logprob, 6),
        "compression_ratio": round(segment.compression_ratio, 6),
        "no_speech_prob": round(segment.no_speech_prob, 6),
    }


def to_verbose_json(transcript: Transcript) -> dict[str, object]:
    answer: dict[str, object] = {
        "task": transcript.task,
        "language": LANGUAGES[transcript.language],  # OpenAI reports the name: "english"
        "duration": round(transcript.duration, 3),
        "text": transcript.text,
        "segments": [segment_json(segment) for segment in transcript.segments],
    }
    if transcript.word_timestamps:
        answer["words"] = [
            {"word": word.word.strip(), "start": word.start, "end": word.end}
            for segment in transcript.segments
            for word in segment.words
        ]
    return answer


def usage(duration: float) -> dict[str, object]:
    return {"type": "duration", "seconds": math.ceil(duration)}


def render(transcript: Transcript, response_format: ResponseFormat) -> web.Response:
    if response_format == "json":
        return web.json_response({"text": transcript.text, "usage": usage(transcript.duration)})
    if response_format == "verbose_json":
        return web.json_response(to_verbose_json(transcript))
    if response_format == "srt":
        return web.Response(text=to_srt(transcript), content_type="application/x-subrip")
    if response_format == "vtt":
        return web.Response(text=to_vtt(transcript), content_type="text/vtt")
    return web.Response(text=transcript.text + "\n", content_type="text/plain")
