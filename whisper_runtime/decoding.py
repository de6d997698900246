"""Batched greedy decoding with a key/value cache over the exported ONNX decoders.

The first step runs `decoder_model` on the prompt; it returns the self-attention cache and the
cross-attention keys/values, which then stay in this process for every later
`decoder_with_past_model` step. Rows that emit end-of-text leave the batch instead of being
padded along, which is faster on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from whisper_runtime.model_spec import ModelSpec
from whisper_runtime.tokenizer import WhisperTokenizer

INPUT_IDS = "input_ids"
ENCODER_HIDDEN_STATES = "encoder_hidden_states"


@dataclass(frozen=True)
class DecodingOptions:
    """Options of one decoding call. `max_new_tokens` defaults to half the text context, as Whisper does."""

    max_new_tokens: int | None = None


@dataclass(frozen=True)
class DecodingResult:
    tokens: tuple[int, ...]
    text: str


def _cache_names(spec: ModelSpec, kind: str) -> list[tuple[str, str]]:
    """(present output, past input) name pairs for the decoder's 'decoder' or 'encoder' cache."""
    return [
        (f"present.{layer}.{kind}.{part}", f"past_key_values.{layer}.{kind}.{part}")
        for layer in range(spec.decoder_layers)
        for part in ("key", "value")
    ]


class GreedyDecoder:
    """Greedy decoding of a batch of encoder outputs into tokens and text."""

    def __init__(
        self,
        decoder: ort.InferenceSession,
        decoder_with_past: ort.InferenceSession,
        tokenizer: WhisperTokenizer,
        spec: ModelSpec,
    ) -> None:
        self._decoder = decoder
        self._decoder_with_past = decoder_with_past
        self._tokenizer = tokenizer
        self._spec = spec
        self._self_cache = _cache_names(spec, "decoder")
        self._cross_cache = _cache_names(spec, "encoder")
        self._decoder_outputs = [o.name for o in decoder.get_outputs()]
        self._with_past_outputs = [o.name for o in decoder_with_past.get_outputs()]
        special = tokenizer.special
        self.prompt = (special.start_of_transcript, special.no_timestamps)
        self._suppress = np.array(spec.suppress_tokens, dtype=np.int64)
        self._suppress_at_start = np.array(spec.suppress_tokens + spec.begin_suppress_tokens, dtype=np.int64)

    def decode(self, encoder_hidden_states: np.ndarray, options: DecodingOptions | None = None) -> list[DecodingResult]:
        """Decode each row of `encoder_hidden_states` (batch, frames, d_model) to text."""
        options = options or DecodingOptions()
        max_new_tokens = options.max_new_tokens or self._spec.max_target_positions // 2
        max_new_tokens = min(max_new_tokens, self._spec.max_target_positions - len(self.prompt))
        batch = encoder_hidden_states.shape[0]
        generated: list[list[int]] = [[] for _ in range(batch)]
        rows = np.arange(batch)

        outputs = dict(
            zip(
                self._decoder_outputs,
                self._decoder.run(
                    None,
                    {
                        INPUT_IDS: np.tile(np.array(self.prompt, dtype=np.int64), (batch, 1)),
                        ENCODER_HIDDEN_STATES: np.ascontiguousarray(encoder_hidden_states, dtype=np.float32),
                    },
                ),
                strict=True,
            )
        )
        cross_cache = {past: outputs[present] for present, past in self._cross_cache}
        for step in range(max_new_tokens):
            logits = outputs["logits"][:, -1, :]
            logits[:, self._suppress_at_start if step == 0 else self._suppress] = -np.inf
            next_tokens = logits.argmax(axis=-1)
            running = next_tokens != self._tokenizer.special.end_of_text
            for row, token in zip(rows[running], next_tokens[running], strict=True):
                generated[row].append(int(token))
            if not running.any() or step == max_new_tokens - 1:
                break
            self_cache = {past: outputs[present] for present, past in self._self_cache}
            if not running.all():
                rows, next_tokens = rows[running], next_tokens[running]
                self_cache = {name: value[running] for name, value in self_cache.items()}
                cross_cache = {name: value[running] for name, value in cross_cache.items()}
            outputs = dict(
                zip(
                    self._with_past_outputs,
                    self._decoder_with_past.run(
                        None, {INPUT_IDS: next_tokens[:, None].astype(np.int64), **self_cache, **cross_cache}
                    ),
                    strict=True,
                )
            )
        return [DecodingResult(tokens=tuple(tokens), text=self._tokenizer.decode(tokens)) for tokens in generated]
