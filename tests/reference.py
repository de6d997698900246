"""The reference decoder: faster-whisper's CTranslate2 model on the same tiny.en weights."""

from __future__ import annotations

import functools
from pathlib import Path

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel

from export.sources import default_source


@functools.cache
def reference_model(compute_type: str = "float32") -> WhisperModel:
    return WhisperModel(str(default_source().path), device="cpu", compute_type=compute_type, cpu_threads=2)


def reference_long_form(audio: Path, compute_type: str) -> str:
    """faster-whisper's greedy long-form transcription (its seek loop, conditioned on previous text)."""
    segments, _ = reference_model(compute_type).transcribe(
        str(audio), language="en", beam_size=1, temperature=0.0, condition_on_previous_text=True, vad_filter=False
    )
    return " ".join(segment.text.strip() for segment in segments)


def reference_tokens(features: np.ndarray, prompt: list[int]) -> list[list[int]]:
    """Greedy tokens of CTranslate2 for each row of `features` (the same features our engine sees)."""
    results = reference_model().model.generate(
        ctranslate2.StorageView.from_array(np.ascontiguousarray(features)),
        [prompt] * len(features),
        beam_size=1,
    )
    return [result.sequences_ids[0] for result in results]
