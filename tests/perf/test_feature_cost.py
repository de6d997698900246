"""perf.feature_cost without a stack: the padded recording puts each clip where it says, rounds interleave
A and B, and the summary and table report the medians, their ratio and both error rates."""

from __future__ import annotations

import io

import numpy as np
import pytest

from perf.datasets import load_dataset
from perf.feature_cost import (
    CASES,
    NOISE_RMS,
    Case,
    Fields,
    Recording,
    host,
    markdown,
    measure,
    padded_librispeech,
    padded_recording,
)
from whisper_runtime.audio import SAMPLE_RATE, decode_audio


def test_the_padded_recording_holds_each_clip_where_it_says_after_silence_and_noise() -> None:
    clips = load_dataset("librispeech")[:2]
    recording = padded_recording(clips, gap_s=2.0)
    pcm = decode_audio(io.BytesIO(recording.wav))
    assert recording.seconds == pytest.approx(pcm.size / SAMPLE_RATE)
    assert recording.reference == " ".join(clip.reference for clip in clips)
    for clip, (start, end) in zip(clips, recording.speech, strict=True):
        original = decode_audio(clip.path)
        placed = pcm[round(start * SAMPLE_RATE) : round(end * SAMPLE_RATE)]
        assert placed.size == original.size and np.abs(placed - original).max() < 1e-4  # 16-bit WAV
        gap = pcm[round((start - 2.0) * SAMPLE_RATE) : round(start * SAMPLE_RATE)]
        assert np.all(gap[: gap.size // 2] == 0)
        assert np.std(gap[gap.size // 2 :]) == pytest.approx(NOISE_RMS, rel=0.1)
    assert padded_recording(clips, gap_s=2.0).wav == recording.wav  # the noise is seeded


def test_the_chunking_case_runs_on_the_padded_librispeech_recording() -> None:
    names = [case.name for case in CASES]
    assert len(set(names)) == len(names)
    (recording,) = CASES[0].recordings()
    assert recording is padded_librispeech()
    assert len(recording.speech) == 3 and recording.seconds == pytest.approx(212.6, abs=0.1)
    assert CASES[0].fields_a == {**CASES[0].fields_b, "chunking_strategy": "auto"}


def test_rounds_interleave_the_variants_and_the_summary_reports_both() -> None:
    recordings = [Recording("a", b"", "the cat sat down", 10.0), Recording("b", b"", "on a mat", 5.0)]
    case = Case("feature", lambda: recordings, {"feature": "on"}, {})
    sent: list[tuple[str, str]] = []

    def post(recording: Recording, fields: Fields) -> str:
        sent.append((recording.name, "A" if fields else "B"))
        return recording.reference if fields else "the cat sat"

    result = measure(case, post, rounds=3)
    assert sent[:2] == [("a", "A"), ("a", "B")]  # warm-up
    rounds = [variant for _, variant in sent[2:]][::2]
    assert rounds == ["A", "B", "B", "A", "A", "B"]
    assert result["rounds"] == 3 and result["audio_seconds"] == 15.0
    assert result["wer_a"] == 0.0 and result["wer_b"] == pytest.approx(100 * 4 / 7, abs=0.01)
    assert result["time_ratio"] > 0 and len(result["a"]["runs_s"]) == 3  # type: ignore[index]
    document = {"rounds": 3, "host": host(), "results": [result], "created": "now", "command": "python -m x"}
    table = markdown(document)
    assert "| feature | feature=on | - | 15.0 |" in table and "Medians of 3 interleaved rounds" in table
