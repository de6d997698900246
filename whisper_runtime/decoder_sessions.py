"""The exported decoder's two ONNX Runtime sessions, and the key/value cache passed between their steps.

`decoder_model` runs the first step on the whole prompt and returns the self-attention cache and
the cross-attention keys/values; `decoder_with_past_model` then takes one token per row and the
cache. The cross-attention part is computed once and stays in this process for every step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from whisper_runtime.prompts import Prompt
from whisper_runtime.sessions import ModelSession

INPUT_IDS = "input_ids"
ENCODER_HIDDEN_STATES = "encoder_hidden_states"
LOGITS = "logits"


def _cache_names(decoder_layers: int, kind: str) -> list[tuple[str, str]]:
    """(present output, past input) name pairs for the decoder's 'decoder' or 'encoder' cache."""
    return [
        (f"present.{layer}.{kind}.{part}", f"past_key_values.{layer}.{kind}.{part}")
        for layer in range(decoder_layers)
        for part in ("key", "value")
    ]


@dataclass(frozen=True)
class KVCache:
    """The cache of the rows still decoding, keyed by the decoder's past-input names."""

    self_attention: dict[str, np.ndarray]
    cross_attention: dict[str, np.ndarray]

    def keep(self, rows: np.ndarray) -> KVCache:
        """The cache of `rows` (a boolean mask or indices) only: finished rows leave the batch."""
        return KVCache(
            {name: value[rows] for name, value in self.self_attention.items()},
            {name: value[rows] for name, value in self.cross_attention.items()},
        )


class DecoderSessions:
    """The first step and the later steps of the exported decoder."""

    def __init__(self, decoder: ModelSession, decoder_with_past: ModelSession, decoder_layers: int) -> None:
        self._decoder = decoder
        self._decoder_with_past = decoder_with_past
        self._self_cache = _cache_names(decoder_layers, "decoder")
        self._cross_cache = _cache_names(decoder_layers, "encoder")
        self._decoder_outputs = [output.name for output in decoder.get_outputs()]
        self._with_past_outputs = [output.name for output in decoder_with_past.get_outputs()]

    def first_step(self, prompts: Sequence[Prompt], encoder_hidden_states: np.ndarray) -> tuple[np.ndarray, KVCache]:
        """Logits at every prompt position (rows, prompt length, vocab) for prompts of one length, and the cache."""
        feeds: dict[str, np.ndarray] = {
            INPUT_IDS: np.array(prompts, dtype=np.int64),
            ENCODER_HIDDEN_STATES: np.ascontiguousarray(encoder_hidden_states, dtype=np.float32),
        }
        outputs = dict(zip(self._decoder_outputs, self._decoder.run(None, feeds), strict=True))
        cross_attention = {past: outputs[present] for present, past in self._cross_cache}
        return outputs[LOGITS], KVCache(self._self_attention(outputs), cross_attention)

    def next_step(self, tokens: np.ndarray, cache: KVCache) -> tuple[np.ndarray, KVCache]:
        """Logits (rows, vocab) after one more token per row, and the cache grown by it."""
        feeds = {INPUT_IDS: tokens[:, None].astype(np.int64), **cache.self_attention, **cache.cross_attention}
        outputs = dict(zip(self._with_past_outputs, self._decoder_with_past.run(None, feeds), strict=True))
        return outputs[LOGITS][:, -1, :], KVCache(self._self_attention(outputs), cache.cross_attention)

    def _self_attention(self, outputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {past: outputs[present] for present, past in self._self_cache}
