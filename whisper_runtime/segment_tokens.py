"""Where a window's tokens are cut into segments: at each pair of timestamp tokens (one segment's end, the
next one's start). Shared by the seek loop, which makes the segments, and the decoder, which aligns the
words of the segments the seek loop keeps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Cuts:
    """`ends`: the index after each kept segment's last token; `paired`: the tokens hold a timestamp pair
    (else they are one segment); `single_timestamp_ending`: they end with text then one timestamp."""

    ends: tuple[int, ...]
    paired: bool
    single_timestamp_ending: bool

    @property
    def whole_window(self) -> bool:
        """Every token is kept, so the seek moves past the window."""
        return self.single_timestamp_ending or not self.paired


def cut(tokens: Sequence[int], timestamp_begin: int) -> Cuts:
    """The segment cuts of a window's tokens; without a timestamp pair, the window is one segment. When the
    tokens do not end with a single timestamp, the last segment is incomplete and left out (it is decoded
    again, whole, in the next window)."""
    is_timestamp = [token >= timestamp_begin for token in tokens]
    pair_ends = [i + 1 for i in range(len(tokens) - 1) if is_timestamp[i] and is_timestamp[i + 1]]
    single_ending = is_timestamp[-2:] == [False, True]
    if not pair_ends:
        return Cuts((len(tokens),), paired=False, single_timestamp_ending=single_ending)
    if single_ending:
        return Cuts((*pair_ends, len(tokens)), paired=True, single_timestamp_ending=True)
    return Cuts(tuple(pair_ends), paired=True, single_timestamp_ending=False)


def kept_text(tokens: Sequence[int], timestamp_begin: int, end_of_text: int) -> list[int]:
    """The text tokens (no timestamps) of the segments the seek loop keeps from a window."""
    return [token for token in tokens[: cut(tokens, timestamp_begin).ends[-1]] if token < end_of_text]
