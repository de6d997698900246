"""Word timestamps: Whisper's alignment (DTW over the alignment heads' cross-attention) and word building,
against faster-whisper's `word_timestamps=True` on the same weights and precision."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from faster_whisper import WhisperModel

from perf.datasets import JFK_CLIP, Clip, load_dataset
from perf.word_timing import TimedWord, compare_words
from tests.reference import reference_model
from whisper_runtime.alignment import dtw_path, median_filter, token_times
from whisper_runtime.audio import decode_audio
from whisper_runtime.engine import WhisperEngine
from whisper_runtime.model_files import ModelFiles
from whisper_runtime.repository import DEFAULT_MODEL
from whisper_runtime.transcription import Segment, TranscriptionOptions
from whisper_runtime.words import WordTiming, merge_punctuation, split_words

CLIPS = [*load_dataset("librispeech"), *load_dataset("eval-short")]
HALF = CLIPS[:26]  # LibriSpeech and the first 20 clips of eval-short: about half the words (make test)
WORDS = TranscriptionOptions(word_timestamps=True, language="en")


def test_the_warping_path_follows_the_cheapest_cells_and_breaks_ties_as_whisper_does() -> None:
    cost = np.array([[0.0, 5.0, 5.0, 5.0], [5.0, 0.0, 0.0, 5.0], [5.0, 5.0, 5.0, 0.0]])
    rows, columns = dtw_path(cost)
    assert list(zip(rows.tolist(), columns.tolist(), strict=True)) == [(0, 0), (1, 1), (1, 2), (2, 3)]
    # All ties: a tie takes the step from the left (Whisper's trace), so the path drops to the last row
    # at once and runs along it.
    rows, columns = dtw_path(np.zeros((2, 3)))
    assert list(zip(rows.tolist(), columns.tolist(), strict=True)) == [(0, 0), (1, 0), (1, 1), (1, 2)]


def _cell_by_cell_path(cost: np.ndarray) -> list[tuple[int, int]]:
    """The warping path by the plain recurrence, one cell at a time, ties as Whisper's trace breaks them."""
    rows, columns = cost.shape
    total = np.full((rows + 1, columns + 1), np.inf)
    total[0, 0] = 0.0
    moves = {}
    for j in range(1, columns + 1):
        for i in range(1, rows + 1):
            diagonal, down, right = total[i - 1, j - 1], total[i - 1, j], total[i, j - 1]
            move = 0 if diagonal < down and diagonal < right else 1 if down < diagonal and down < right else 2
            total[i, j] = cost[i - 1, j - 1] + (diagonal, down, right)[move]
            moves[i, j] = move
    path, i, j = [], rows, columns
    while i > 0 or j > 0:
        path.append((i - 1, j - 1))
        move = moves.get((i, j), 2 if i == 0 else 1)
        i, j = (i - 1, j - 1) if move == 0 else (i - 1, j) if move == 1 else (i, j - 1)
    return path[::-1]


def test_the_vectorized_warping_path_equals_the_cell_by_cell_recurrence() -> None:
    generator = np.random.default_rng(0)
    for _ in range(50):
        cost = generator.standard_normal((int(generator.integers(2, 20)), int(generator.integers(2, 80))))
        rows, columns = dtw_path(cost)
        assert list(zip(rows.tolist(), columns.tolist(), strict=True)) == _cell_by_cell_path(cost)


def test_the_median_filter_takes_each_window_median_with_reflected_edges() -> None:
    values = np.array([[5.0, 1.0, 9.0, 2.0, 8.0, 3.0, 7.0]])
    padded = np.pad(values, [(0, 0), (1, 1)], mode="reflect")
    expected = [np.median(padded[0, i : i + 3]) for i in range(values.shape[1])]
    assert median_filter(values, width=3)[0].tolist() == expected
    noise = np.random.default_rng(1).random((2, 5, 60))
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(noise, [(0, 0), (0, 0), (3, 3)], mode="reflect"), 7, -1)
    assert np.array_equal(median_filter(noise), np.median(windows, axis=-1))
    assert median_filter(values[:, :1], width=7).tolist() == values[:, :1].tolist()  # too short: unchanged


def test_token_times_follow_attention_that_moves_through_the_window() -> None:
    # [start, <|notimestamps|>, 3 text tokens, <|endoftext|>] over 6 s of audio (300 encoder steps): each
    # input token looks at its own moment, and each text token's time falls between its predecessor's moment
    # and its own.
    looks_at = [0, 20, 60, 150, 250, 290]
    attention = np.random.default_rng(0).uniform(0.0, 0.05, (2, len(looks_at), 1500))  # attention is never flat
    for row, step in enumerate(looks_at):
        attention[:, row, step : step + 10] = 1.0
    times = token_times(attention, start_length=1, frames=600)
    assert len(times) == 4 and times[0] == 0.0
    moments = np.array(looks_at[1:5]) / 50
    assert all(moments[k - 1] <= times[k] <= moments[k] + 0.2 for k in range(1, 4)), times


@pytest.fixture(scope="module")
def tokenizer_files(model_files: Callable[[str], ModelFiles]) -> ModelFiles:
    return model_files(DEFAULT_MODEL)


def test_words_start_at_spaces_and_punctuation_joins_its_neighbours(tokenizer_files: ModelFiles) -> None:
    tokenizer = tokenizer_files.tokenizer
    tokens = tokenizer.encode(' "Hello," said Dr. Kenobi.')
    words = split_words(tokenizer, tokens, "en")
    assert "".join(word for word, _ in words) == ' "Hello," said Dr. Kenobi.'
    assert [token for _, piece in words for token in piece] == tokens
    timings = [WordTiming(word, piece) for word, piece in words]
    merge_punctuation(timings)
    assert [t.word for t in timings if t.word] == [' "Hello,"', " said", " Dr.", " Kenobi."]


def _our_words(segments: list[Segment]) -> list[TimedWord]:
    return [(word.word, word.start, word.end) for segment in segments for word in segment.words]


def _their_words(model: WhisperModel, pcm: np.ndarray) -> list[TimedWord]:
    segments, _ = model.transcribe(
        pcm, language="en", beam_size=1, temperature=0.0, word_timestamps=True, vad_filter=False
    )
    return [(word.word, word.start, word.end) for segment in segments for word in segment.words or ()]


@pytest.mark.parametrize(
    "clips", [pytest.param(HALF, id="half"), pytest.param(CLIPS, id="all", marks=pytest.mark.accuracy)]
)
def test_word_times_agree_with_faster_whisper_on_the_same_weights(
    engine_for: Callable[..., WhisperEngine], clips: list[Clip]
) -> None:
    engine, reference = engine_for("fp32"), reference_model("float32")
    ours, theirs = [], []
    for path in [JFK_CLIP, *(clip.path for clip in clips)]:
        pcm = decode_audio(path)
        segments = engine.transcribe(pcm, WORDS)
        for segment in segments:
            assert segment.words, (path.name, segment.text)
            times = [t for word in segment.words for t in (word.start, word.end)]
            assert times == sorted(times), (path.name, segment.words)
            assert segment.start <= times[0] and times[-1] <= segment.end, (path.name, segment)
        ours.append(_our_words(segments))
        theirs.append(_their_words(reference, pcm))
    agreement = compare_words(ours, theirs)
    print(agreement.summary())
    assert agreement.words > 0.9 * sum(len(clip.reference.split()) for clip in clips)
    assert agreement.fraction >= 0.98
    assert agreement.start_percentile_ms(50) <= 40
    assert agreement.start_percentile_ms(95) <= 200


def test_without_word_timestamps_segments_have_no_words_and_the_same_text(
    engine_for: Callable[..., WhisperEngine], jfk_pcm: np.ndarray
) -> None:
    engine = engine_for("int8")
    plain, timed = engine.transcribe(jfk_pcm), engine.transcribe(jfk_pcm, WORDS)
    assert all(not segment.words for segment in plain)
    assert [s.text for s in plain] == [s.text for s in timed]
