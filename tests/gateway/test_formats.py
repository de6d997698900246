"""Subtitle and JSON renderings of a transcript."""

from __future__ import annotations

from gateway.formats import Transcript, to_srt, to_verbose_json, to_vtt
from whisper_runtime.transcription import Segment


def _segment(id: int, start: float, end: float, text: str) -> Segment:
    return Segment(id, 0, start, end, text, (50363, 400, 50400), -0.25, 1.2, 0.01)


TRANSCRIPT = Transcript.of(
    (_segment(0, 0.0, 1.5, "Hello there."), _segment(1, 3661.25, 3725.5, "General Kenobi.")),
    duration=3725.5,
    language="en",
    task="transcribe",
)


def test_text_joins_the_segments() -> None:
    assert TRANSCRIPT.text == "Hello there. General Kenobi."


def test_srt_numbers_cues_and_uses_commas() -> None:
    assert to_srt(TRANSCRIPT) == (
        "1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n2\n01:01:01,250 --> 01:02:05,500\nGeneral Kenobi.\n\n"
    )


def test_vtt_has_a_header_and_uses_dots() -> None:
    assert to_vtt(TRANSCRIPT) == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello there.\n\n01:01:01.250 --> 01:02:05.500\nGeneral Kenobi.\n\n"
    )


def test_verbose_json_has_openais_fields() -> None:
    body = to_verbose_json(TRANSCRIPT)
    assert set(body) == {"task", "language", "duration", "text", "segments"}
    assert body["segments"][1] == {  # type: ignore[index]
        "id": 1,
        "seek": 0,
        "start": 3661.25,
        "end": 3725.5,
        "text": "General Kenobi.",
        "tokens": [50363, 400, 50400],
        "temperature": 0.0,
        "avg_logprob": -0.25,
        "compression_ratio": 1.2,
        "no_speech_prob": 0.01,
    }


def test_silence_gives_no_segments() -> None:
    silence = Transcript.of((), 2.0, "en", "transcribe")
    assert (silence.text, to_srt(silence), to_vtt(silence)) == ("", "", "WEBVTT\n\n")
