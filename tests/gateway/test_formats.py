"""Subtitle and JSON renderings of a transcript."""

from __future__ import annotations

from gateway.formats import Segment, Transcript, to_srt, to_verbose_json, to_vtt

TRANSCRIPT = Transcript(
    text="Hello there. General Kenobi.",
    duration=3725.5,
    segments=(Segment(0, 0.0, 1.5, " Hello there."), Segment(1, 3661.25, 3725.5, " General Kenobi.")),
)


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
    assert body["segments"][1] == {"id": 1, "seek": 0, "start": 3661.25, "end": 3725.5, "text": " General Kenobi."}


def test_silence_gives_no_segments() -> None:
    assert Transcript.single_window("", 2.0).segments == ()
    assert to_srt(Transcript.single_window("", 2.0)) == ""
