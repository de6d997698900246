"""Voice activity detection: speech spans by Silero's rules (checked against faster-whisper's implementation
on real speech padded with silence and noise), the speech-only audio, and times mapped back to the recording."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from faster_whisper import vad as reference_vad

from perf.feature_cost import Recording, padded_librispeech
from whisper_runtime.audio import SAMPLE_RATE, decode_audio
from whisper_runtime.errors import ModelFilesError
from whisper_runtime.repository import sha256_record, vad_model
from whisper_runtime.transcription import Segment, Word
from whisper_runtime.vad import FRAME_SAMPLES, Span, SpeechDetector, SpeechTimeline, VadOptions, speech_spans

SECOND = SAMPLE_RATE


def frames(*runs: tuple[float, float]) -> np.ndarray:
    """Per-frame probabilities from (probability, seconds) runs."""
    return np.concatenate([np.full(round(seconds * SECOND / FRAME_SAMPLES), p, np.float32) for p, seconds in runs])


def spans_in_seconds(spans: list[Span]) -> list[tuple[float, float]]:
    return [(round(span.start / SECOND, 2), round(span.end / SECOND, 2)) for span in spans]


@pytest.fixture(scope="module")
def detector(repository: Path) -> SpeechDetector:
    return SpeechDetector.load(vad_model(repository))


@pytest.fixture(scope="module")
def padded() -> tuple[Recording, np.ndarray]:
    recording = padded_librispeech()
    return recording, decode_audio(io.BytesIO(recording.wav))


def test_speech_opens_at_the_threshold_and_closes_after_enough_silence_below_the_lower_one() -> None:
    options = VadOptions(threshold=0.5, min_silence_ms=300, speech_pad_ms=0, min_speech_ms=0)
    # 0.4 lies between the thresholds (0.35 and 0.5): it neither opens a span nor counts as silence.
    probabilities = frames((0.1, 1.024), (0.4, 1.024), (0.9, 1.024), (0.4, 1.024), (0.1, 0.512), (0.9, 0.512))
    total = probabilities.size * FRAME_SAMPLES
    assert spans_in_seconds(speech_spans(probabilities, total, options)) == [(2.05, 4.1), (4.61, 5.12)]


def test_a_short_pause_does_not_split_a_span_and_a_short_burst_is_dropped() -> None:
    options = VadOptions(min_silence_ms=500, speech_pad_ms=0, min_speech_ms=250)
    probabilities = frames((0.9, 1.024), (0.0, 0.256), (0.9, 1.024), (0.0, 2.048), (0.9, 0.128), (0.0, 1.024))
    total = probabilities.size * FRAME_SAMPLES
    assert spans_in_seconds(speech_spans(probabilities, total, options)) == [(0.0, 2.3)]


def test_padding_widens_spans_and_a_narrow_gap_is_shared_between_its_neighbours() -> None:
    options = VadOptions(min_silence_ms=100, speech_pad_ms=200, min_speech_ms=0)
    probabilities = frames((0.0, 1.024), (0.9, 1.024), (0.0, 0.256), (0.9, 1.024), (0.0, 1.024))
    total = probabilities.size * FRAME_SAMPLES
    # The 0.256 s gap is under two pads: each neighbour takes half of it.
    assert spans_in_seconds(speech_spans(probabilities, total, options)) == [(0.82, 2.18), (2.18, 3.53)]


def test_an_over_long_span_is_cut_at_its_last_pause_or_else_at_the_limit() -> None:
    options = VadOptions(min_silence_ms=2000, speech_pad_ms=0, min_speech_ms=0, max_speech_s=3.0)
    with_pause = frames((0.9, 2.048), (0.0, 0.256), (0.9, 2.048))
    assert spans_in_seconds(speech_spans(with_pause, with_pause.size * FRAME_SAMPLES, options)) == [
        (0.0, 2.05),
        (2.3, 4.35),
    ]
    without = frames((0.9, 4.096))
    assert spans_in_seconds(speech_spans(without, without.size * FRAME_SAMPLES, options)) == [(0.0, 2.98), (3.01, 4.1)]


@pytest.mark.parametrize(
    "options",
    [
        VadOptions(),
        VadOptions(threshold=0.5, min_silence_ms=2000, speech_pad_ms=400),
        VadOptions(threshold=0.3, min_silence_ms=500, speech_pad_ms=300, min_speech_ms=0),
        VadOptions(threshold=0.8, min_silence_ms=300, speech_pad_ms=0, max_speech_s=2.5),
    ],
    ids=["silero", "auto", "server_vad-0.3", "max-speech"],
)
def test_spans_are_those_of_faster_whispers_implementation_on_real_speech(
    detector: SpeechDetector, padded: tuple[Recording, np.ndarray], options: VadOptions
) -> None:
    _, pcm = padded
    theirs = reference_vad.get_speech_timestamps(
        pcm,
        reference_vad.VadOptions(
            threshold=options.threshold,
            min_speech_duration_ms=options.min_speech_ms,
            min_silence_duration_ms=options.min_silence_ms,
            speech_pad_ms=options.speech_pad_ms,
            max_speech_duration_s=options.max_speech_s,
        ),
    )
    ours = detector.timeline(pcm, options).spans
    assert [(span.start, span.end) for span in ours] == [(span["start"], span["end"]) for span in theirs]


def test_probabilities_are_those_of_faster_whispers_model_runner(
    detector: SpeechDetector, padded: tuple[Recording, np.ndarray]
) -> None:
    _, pcm = padded
    pcm = pcm[: 100 * SECOND + 123]  # over one session call's worth of frames, and not a whole frame at the end
    theirs = reference_vad.get_vad_model()(np.pad(pcm, (0, FRAME_SAMPLES - pcm.size % FRAME_SAMPLES)))
    np.testing.assert_allclose(detector.probabilities(pcm), np.asarray(theirs).reshape(-1), atol=1e-4)


def test_speech_padded_with_silence_and_noise_is_found_where_it_was_put(
    detector: SpeechDetector, padded: tuple[Recording, np.ndarray]
) -> None:
    recording, pcm = padded
    timeline = detector.timeline(pcm, VadOptions(min_silence_ms=2000, speech_pad_ms=400))
    assert len(timeline.spans) == len(recording.speech)
    for span, (start, end) in zip(timeline.spans, recording.speech, strict=True):
        assert start - 0.45 <= span.start / SECOND <= start + 1.0  # LibriSpeech clips open with a little silence
        assert end - 1.0 <= span.end / SECOND <= end + 0.45
    assert timeline.speech_seconds < 0.2 * recording.seconds
    speech = timeline.speech_audio(pcm)
    assert speech.size == timeline.speech_samples
    first = timeline.spans[0]
    np.testing.assert_array_equal(speech[: first.samples], pcm[first.start : first.end])


def test_silence_and_noise_alone_hold_no_speech(detector: SpeechDetector) -> None:
    rng = np.random.default_rng(0)
    pcm = np.concatenate([np.zeros(10 * SECOND, np.float32), 0.003 * rng.standard_normal(20 * SECOND)]).astype(
        np.float32
    )
    timeline = detector.timeline(pcm, VadOptions())
    assert timeline.spans == () and timeline.speech_audio(pcm).size == 0
    assert timeline.original_seconds(1.0) == 0.0
    assert detector.probabilities(pcm[:0]).size == 0


TIMELINE = SpeechTimeline((Span(10 * SECOND, 12 * SECOND), Span(20 * SECOND, 23 * SECOND)), 30 * SECOND)


@pytest.mark.parametrize(
    ("seconds", "is_end", "original"),
    [
        (0.0, False, 10.0),
        (0.0, True, 10.0),
        (1.5, False, 11.5),
        (2.0, False, 20.0),  # the seam: a start belongs to the later span
        (2.0, True, 12.0),  # ... and an end to the earlier one
        (3.25, True, 21.25),
        (5.0, True, 23.0),
        (9.0, False, 23.0),  # past the speech-only audio: its end
        (-1.0, False, 10.0),
    ],
)
def test_times_in_the_speech_only_audio_map_into_their_span(seconds: float, is_end: bool, original: float) -> None:
    assert TIMELINE.original_seconds(seconds, is_end) == pytest.approx(original)


def test_a_segment_and_its_words_get_the_recordings_times() -> None:
    words = (Word(" Hello", 0.5, 1.0), Word(" there.", 1.2, 2.0), Word(" Next", 2.0, 2.6))
    segment = Segment(0, 100, 0.5, 2.6, "Hello there. Next", (1, 2), -0.2, 1.1, 0.01, 0.2, words)
    mapped = TIMELINE.original_segment(segment)
    assert (mapped.start, mapped.end, mapped.seek) == (10.5, 20.6, 1100)
    assert [(w.word, w.start, w.end) for w in mapped.words] == [
        (" Hello", 10.5, 11.0),
        (" there.", 11.2, 12.0),
        (" Next", 20.0, 20.6),
    ]
    assert (mapped.text, mapped.tokens, mapped.temperature, mapped.avg_logprob) == (
        segment.text,
        segment.tokens,
        0.2,
        -0.2,
    )


def test_a_segment_on_a_seam_never_ends_before_it_starts() -> None:
    segment = Segment(0, 0, 2.0, 2.0, "x", (), 0.0, 1.0, 0.0)
    mapped = TIMELINE.original_segment(segment)
    assert mapped.start == mapped.end == 20.0


def test_a_model_that_does_not_match_its_recorded_sha256_is_refused(repository: Path, tmp_path: Path) -> None:
    copy = tmp_path / "silero_vad.onnx"
    copy.write_bytes(vad_model(repository).read_bytes()[:-1] + b"\0")
    with pytest.raises(ModelFilesError, match="has no recorded sha256"):
        SpeechDetector.load(copy)
    sha256_record(copy).write_text(sha256_record(vad_model(repository)).read_text())
    with pytest.raises(ModelFilesError, match="does not match its recorded sha256"):
        SpeechDetector.load(copy)
    with pytest.raises(ModelFilesError, match="does not exist"):
        SpeechDetector.load(tmp_path / "missing.onnx")
