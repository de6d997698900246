"""Where a window's tokens are cut into segments: at each pair of timestamp tokens (one segment's end, the
next one's start). Shared by the seek loop, which makes the segments, and the decoder, which aligns the
words of the segments the seek loop keeps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Cuts:
    """`ends`: the index after each kept segment's last token; `whole_window`: the window's tokens are all
    kept (they end with a single timestamp, or hold no timestamp pair), so the seek moves past the window;
    `paired`: the tokens hold a timestamp pair (else they are one segment)."""

    ends: tuple[int, ...]
    whole_window: bool
    paired: bool = True


def cut(tokens: Sequence[int], timestamp_begin: int) -> Cuts:
    """The segment cuts of a window's tokens; without a timestamp pair, the window is one segment. When the
    tokens do not end with a single timestamp, the last segment is incomplete and left out (it is decoded
    again, whole, in the next window)."""
    is_timestamp = [token >= timestamp_begin for token in tokens]
    pair_ends = [i + 1 for i in range(len(tokens) - 1) if is_timestamp[i] and is_timestamp[i + 1]]
    if not pair_ends:
        return Cuts((len(tokens),), whole_window=True, paired=False)
    if is_timestamp[-2:] == [False, True]:
        return Cuts((*pair_ends, len(tokens)), whole_window=True)
    return Cuts(tuple(pair_ends), whole_window=False)


def kept_text(tokens: Sequence[int], timestamp_begin: int, end_of_text: int) -> list[int]:
    """The text tokens (no timestamps) of the segments the seek loop keeps from a window."""
    return [token for token in tokens[: cut(tokens, timestamp_begin).ends[-1]] if token < end_of_text]
