"""The reference decoder: faster-whisper's CTranslate2 model on the same tiny.en weights."""

from __future__ import annotations

import functools

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel

from export.sources import default_source


@functools.cache
def reference_model() -> WhisperModel:
    return WhisperModel(str(default_source().path), device="cpu", compute_type="float32", cpu_threads=2)


def reference_tokens(features: np.ndarray, prompt: list[int]) -> list[list[int]]:
    """Greedy tokens of CTranslate2 for each row of `features` (the same features our engine sees)."""
    results = reference_model().model.generate(
        ctranslate2.StorageView.from_array(np.ascontiguousarray(features)),
        [prompt] * len(features),
        beam_size=1,
    )
    return [result.sequences_ids[0] for result in results]
