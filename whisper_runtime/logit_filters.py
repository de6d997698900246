"""Logit filters: each decoding step's logits pass through them in turn before a token is chosen.

A filter rules tokens out by setting their logits to -inf, in place, as openai/whisper's
`LogitFilter`s do. `TokenDecoder` picks the list for a batch (timestamp rules only when the
prompt asks for timestamps); a new rule (a language token, a task) is one more class here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from whisper_runtime.tokenizer import SpecialTokens

# The first timestamp of a window may be at most 1.0 s (50 steps of 0.02 s), as in Whisper.
MAX_INITIAL_TIMESTAMP_INDEX = 50


def logsumexp(logits: np.ndarray) -> np.ndarray:
    """log(sum(exp)) over the last axis; rows that are all -inf give -inf."""
    peak = logits.max(axis=-1, keepdims=True)
    finite_peak = np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(divide="ignore"):
        return (finite_peak + np.log(np.exp(logits - finite_peak).sum(axis=-1, keepdims=True)))[..., 0]


class LogitFilter(Protocol):
    def apply(self, logits: np.ndarray, generated: Sequence[Sequence[int]], step: int) -> None:
        """Rule tokens out of `logits` (rows, vocab) at decoding step `step` (0: the first new token), given
        the tokens each row generated so far."""
        ...


class SuppressTokens:
    """Tokens never generated (`always`), and more at the first step (`at_start`: a blank, end-of-text)."""

    def __init__(self, always: Sequence[int], at_start: Sequence[int]) -> None:
        self._always = np.array(always, dtype=np.int64)
        self._first_step = np.array([*always, *at_start], dtype=np.int64)

    def apply(self, logits: np.ndarray, generated: Sequence[Sequence[int]], step: int) -> None:
        logits[:, self._first_step if step == 0 else self._always] = -np.inf


class TimestampRules:
    """Whisper's rules for decoding with timestamps.

    A window starts with a timestamp of at most 1.0 s; timestamps come in pairs (end of one
    segment, start of the next) except right before end-of-text; they never decrease and a
    segment never has zero length; and when the timestamps together are more likely than any
    text token, a timestamp is chosen.
    """

    def __init__(self, special: SpecialTokens) -> None:
        self._special = special
        self._begin = special.timestamp_begin

    def apply(self, logits: np.ndarray, generated: Sequence[Sequence[int]], step: int) -> None:
        begin = self._begin
        logits[:, self._special.no_timestamps] = -np.inf
        for row, tokens in enumerate(generated):
            last_was_timestamp = len(tokens) >= 1 and tokens[-1] >= begin
            penultimate_was_timestamp = len(tokens) < 2 or tokens[-2] >= begin
            if last_was_timestamp:
                if penultimate_was_timestamp:
                    logits[row, begin:] = -np.inf  # a pair just closed: text must follow
                else:
                    logits[row, : self._special.end_of_text] = -np.inf  # a segment just ended: no text
            last_timestamp = next((token for token in reversed(tokens) if token >= begin), None)
            if last_timestamp is not None:
                lowest = last_timestamp if last_was_timestamp and not penultimate_was_timestamp else last_timestamp + 1
                logits[row, begin:lowest] = -np.inf
        if step == 0:
            logits[:, :begin] = -np.inf
            logits[:, begin + MAX_INITIAL_TIMESTAMP_INDEX + 1 :] = -np.inf
        timestamps_win = logsumexp(logits[:, begin:]) > logits[:, :begin].max(axis=-1)
        logits[timestamps_win, :begin] = -np.inf
