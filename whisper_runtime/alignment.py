"""Token times from the decoder's cross-attention, by Whisper's method.

The exported aligner (`aligner_model.onnx`) runs the decoder over `[start sequence, <|notimestamps|>,
text tokens, <|endoftext|>]` and returns the cross-attention of the model's alignment heads (the
heads whose attention follows the speech). Over the window's frames that hold audio, the weights
are renormalized, standardized per frame across tokens, median-filtered along time and averaged
over the heads; dynamic time warping then finds the cheapest monotonic path through the negated
matrix, and each token's time is where the path first reaches its row. Row 0 (`<|notimestamps|>`)
predicts the first text token, so a window with n text tokens has n + 1 times: the start of each
token and, last, the end of the final one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from whisper_runtime.sessions import ModelSession
from whisper_runtime.tokenizer import SpecialTokens

INPUT_IDS = "input_ids"
ENCODER_HIDDEN_STATES = "encoder_hidden_states"
MEDIAN_FILTER_WIDTH = 7
FRAMES_PER_ENCODER_STEP = 2  # the encoder's second convolution has stride 2: 50 steps per second
ENCODER_STEPS_PER_SECOND = 50


def median_filter(weights: np.ndarray, width: int = MEDIAN_FILTER_WIDTH) -> np.ndarray:
    """The median over a window of `width` along the last axis, edges reflected (unchanged when too short).
    The `width` shifted copies are sorted by an odd-even transposition network of element-wise minima and
    maxima (a few dozen whole-array operations instead of a median per window)."""
    half = width // 2
    if weights.shape[-1] <= half:
        return weights
    padded = np.pad(weights, [(0, 0)] * (weights.ndim - 1) + [(half, half)], mode="reflect")
    length = weights.shape[-1]
    lanes = [padded[..., shift : shift + length] for shift in range(width)]
    for round_ in range(width):
        for lane in range(round_ % 2, width - 1, 2):
            low, high = lanes[lane], lanes[lane + 1]
            lanes[lane], lanes[lane + 1] = np.minimum(low, high), np.maximum(low, high)
    return lanes[half]


def dtw_path(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row indices, column indices) of the cheapest path from the top-left to the bottom-right of `cost`
    (rows, columns), moving right, down or diagonally; each cell's move is chosen as Whisper's trace does
    (diagonal or down only when strictly cheapest, else right).

    One row at a time, vectorized: a cell's total is its cost plus the cheapest of the cell above, the one
    diagonally above and the one to its left, so along a row total[j] = S[j] + min over k <= j of
    (entry[k] - S[k - 1]), where S is the running sum of the row's costs and entry[k] the cheaper of the two
    cells above column k."""
    rows, columns = cost.shape
    total = np.full((rows + 1, columns + 1), np.inf)
    total[0, 0] = 0.0
    trace = np.zeros((rows + 1, columns + 1), dtype=np.int8)
    for i in range(1, rows + 1):
        above = total[i - 1]
        entry = np.minimum(above[:-1], above[1:])
        running = np.cumsum(cost[i - 1])
        total[i, 1:] = running + np.minimum.accumulate(entry - np.concatenate(([0.0], running[:-1])))
        diagonal_step, down, right = above[:-1], above[1:], total[i, :-1]
        trace[i, 1:] = np.where(
            (diagonal_step < down) & (diagonal_step < right), 0, np.where((down < diagonal_step) & (down < right), 1, 2)
        )
    trace[0, :], trace[:, 0] = 2, 1
    path: list[tuple[int, int]] = []
    i, j = rows, columns
    while i > 0 or j > 0:
        path.append((i - 1, j - 1))
        move = trace[i, j]
        i, j = (i - 1, j - 1) if move == 0 else (i - 1, j) if move == 1 else (i, j - 1)
    steps = np.array(path[::-1])
    return steps[:, 0], steps[:, 1]


def token_times(attention: np.ndarray, start_length: int, frames: int) -> np.ndarray:
    """The time in seconds of each text token and of the end of the last one, from the alignment heads'
    cross-attention (heads, tokens, encoder steps) over `[start sequence of start_length tokens,
    <|notimestamps|>, text, <|endoftext|>]` of a window holding `frames` mel frames of audio."""
    weights = attention[:, :, : max(1, frames // FRAMES_PER_ENCODER_STEP)].astype(np.float32)  # as Whisper does
    weights /= weights.sum(axis=-1, keepdims=True)  # the softmax over the frames that hold audio
    spread = weights.std(axis=-2, keepdims=True)
    weights = (weights - weights.mean(axis=-2, keepdims=True)) / np.where(spread > 0, spread, 1.0)
    matrix = median_filter(weights).mean(axis=0, dtype=np.float64)[start_length:-1]
    text_indices, time_indices = dtw_path(-matrix)
    jumps = np.diff(text_indices, prepend=-1).astype(bool)
    return time_indices[jumps] / ENCODER_STEPS_PER_SECOND


class WordAligner:
    """The exported aligner's session: token times for the text of decoded windows."""

    def __init__(self, session: ModelSession, special: SpecialTokens) -> None:
        self._session = session
        self._special = special

    def align(
        self, encoder_hidden_states: np.ndarray, start_sequence: Sequence[int], text: Sequence[int], frames: int
    ) -> tuple[float, ...]:
        """Times of `text`'s tokens and of its end (seconds from the window's start) for one window's encoder
        output (frames, d_model); empty when there is no text."""
        if not text:
            return ()
        special = self._special
        tokens = [*start_sequence, special.no_timestamps, *text, special.end_of_text]
        (attention,) = self._session.run(
            None,
            {
                INPUT_IDS: np.array([tokens], dtype=np.int64),
                ENCODER_HIDDEN_STATES: np.ascontiguousarray(encoder_hidden_states[None], dtype=np.float32),
            },
        )
        return tuple(float(time) for time in token_times(attention[0], len(start_sequence), frames))
