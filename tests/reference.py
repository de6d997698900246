"""The reference decoder: faster-whisper's CTranslate2 model on the same weights (tiny.en by default)."""

from __future__ import annotations

import functools
from pathlib import Path

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel

from export.sources import bundled_sources
from whisper_runtime.repository import DEFAULT_MODEL


@functools.cache
def reference_model(compute_type: str = "float32", model: str = DEFAULT_MODEL) -> WhisperModel:
    (source,) = bundled_sources([model])
    return WhisperModel(str(source.materialize()), device="cpu", compute_type=compute_type, cpu_threads=2)


def reference_long_form(audio: Path, compute_type: str) -> str:
    """faster-whisper's greedy long-form transcription (its seek loop, conditioned on previous text)."""
    segments, _ = reference_model(compute_type).transcribe(
        str(audio), language="en", beam_size=1, temperature=0.0, condition_on_previous_text=True, vad_filter=False
    )
    return " ".join(segment.text.strip() for segment in segments)


def reference_multilingual(audio: Path, compute_type: str, model: str) -> tuple[str, str]:
    """faster-whisper's greedy transcription without a language: (text, detected language code)."""
    segments, info = reference_model(compute_type, model).transcribe(
        str(audio), beam_size=1, temperature=0.0, condition_on_previous_text=True, vad_filter=False
    )
    return " ".join(segment.text.strip() for segment in segments), info.language


def reference_tokens(features: np.ndarray, prompt: list[int], model: str = DEFAULT_MODEL) -> list[list[int]]:
    """Greedy fp32 tokens of CTranslate2 for each row of `features` (the same features our engine sees)."""
    results = reference_model("float32", model).model.generate(
        ctranslate2.StorageView.from_array(np.ascontiguousarray(features)), [prompt] * len(features), beam_size=1
    )
    return [result.sequences_ids[0] for result in results]
