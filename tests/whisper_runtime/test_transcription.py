"""The seek loop over scripted window decodings, then over the real engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.audio_files import JFK_TEXT, normalize
from whisper_runtime.audio import SAMPLE_RATE
from whisper_runtime.decoding import DecodingResult
from whisper_runtime.engine import WhisperEngine
from whisper_runtime.errors import InvalidPromptError
from whisper_runtime.model_files import ModelFiles
from whisper_runtime.prompts import PromptRules
from whisper_runtime.quality import compression_ratio
from whisper_runtime.repository import DEFAULT_MODEL, Precision
from whisper_runtime.segment_tokens import kept_text
from whisper_runtime.tokenizer import WhisperTokenizer
from whisper_runtime.transcription import (
    Segment,
    Transcription,
    TranscriptionOptions,
    Window,
    transcribe,
)
from whisper_runtime.window_decoder import WindowRequest


@pytest.fixture(scope="module")
def tokenizer(repository: Path) -> WhisperTokenizer:
    return ModelFiles.load(repository, DEFAULT_MODEL).tokenizer


@pytest.fixture(scope="module")
def multilingual(repository: Path) -> WhisperTokenizer:
    return ModelFiles.load(repository, "whisper-base").tokenizer


def seconds_of_audio(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)


class Script:
    """Scripted decodings: each window gets the next token list; the windows seen are kept."""

    def __init__(
        self, tokenizer: WhisperTokenizer, *windows: list[int | str], no_speech_prob: float = 0.01, language: str = "en"
    ) -> None:
        self.tokenizer = tokenizer
        self.language = language
        self.results = [self._tokens(window) for window in windows]
        self.no_speech_prob = no_speech_prob
        self.seen: list[Window] = []

    def _tokens(self, window: list[int | str]) -> list[int]:
        """Ints are timestamps in seconds x 50 (0.02 s steps); strings are text."""
        begin = self.tokenizer.special.timestamp_begin
        tokens: list[int] = []
        for item in window:
            tokens += [begin + item] if isinstance(item, int) else self.tokenizer.encode(item)
        return tokens

    def __call__(self, window: Window) -> DecodingResult:
        self.seen.append(window)
        tokens = self.results[len(self.seen) - 1]
        return DecodingResult(tuple(tokens), self.tokenizer.decode(tokens), -0.2, self.no_speech_prob, self.language)


def run(
    tokenizer: WhisperTokenizer, seconds: float, script: Script, options: TranscriptionOptions | None = None
) -> list[Segment]:
    return list(transcribe(seconds_of_audio(seconds), tokenizer, script, options or TranscriptionOptions()))


def spans(segments: list[Segment]) -> list[tuple[float, float, str]]:
    return [(s.start, s.end, s.text) for s in segments]


def test_segments_are_cut_at_timestamp_pairs_and_the_seek_rewinds_to_the_last_complete_one(
    tokenizer: WhisperTokenizer,
) -> None:
    script = Script(
        tokenizer,
        [0, " Hello there.", 100, 100, " General Kenobi.", 250, 260, " You are a bold"],  # incomplete at the end
        [0, " You are a bold one.", 150],  # single timestamp before the end: the window is done
    )
    segments = run(tokenizer, 35.0, script)
    assert spans(segments) == [
        (0.0, 2.0, "Hello there."),
        (2.0, 5.0, "General Kenobi."),
        (5.0, 8.0, "You are a bold one."),
    ]
    assert [w.seek for w in script.seen] == [0, 500]  # 250 steps of 0.02 s = 5 s = 500 frames
    assert [s.id for s in segments] == [0, 1, 2] and segments[2].seek == 500


def test_a_window_ending_on_a_single_timestamp_moves_a_whole_window_on(tokenizer: WhisperTokenizer) -> None:
    script = Script(tokenizer, [0, " One.", 1400], [0, " Two.", 200], [0, " Three.", 100])
    segments = run(tokenizer, 65.0, script)
    assert [w.seek for w in script.seen] == [0, 3000, 6000]
    assert spans(segments) == [(0.0, 28.0, "One."), (30.0, 34.0, "Two."), (60.0, 62.0, "Three.")]


def test_previous_text_conditions_the_next_window(tokenizer: WhisperTokenizer) -> None:
    script = Script(tokenizer, [0, " One.", 1400], [0, " Two.", 200])
    run(tokenizer, 40.0, script)
    special = tokenizer.special
    first, second = (w.prompt for w in script.seen)
    assert first == (special.start_of_transcript,)
    assert second[0] == special.start_of_prev and second[-1] == special.start_of_transcript
    assert tokenizer.decode(second) == "One."


def test_without_conditioning_every_window_starts_fresh(tokenizer: WhisperTokenizer) -> None:
    script = Script(tokenizer, [0, " One.", 1400], [0, " Two.", 200])
    run(tokenizer, 40.0, script, TranscriptionOptions(condition_on_previous_text=False))
    assert [w.prompt for w in script.seen] == [(tokenizer.special.start_of_transcript,)] * 2


def test_a_repetitive_window_does_not_condition_the_next(tokenizer: WhisperTokenizer) -> None:
    loop = " the the the the the the the the the the the the the the the the the the the the"
    assert compression_ratio(loop) > 2.4
    script = Script(tokenizer, [0, loop, 1400], [0, " Two.", 200])
    run(tokenizer, 40.0, script)
    assert script.seen[1].prompt == (tokenizer.special.start_of_transcript,)


def test_the_initial_prompt_conditions_the_first_window(tokenizer: WhisperTokenizer) -> None:
    script = Script(tokenizer, [0, " Kenobi.", 100])
    run(tokenizer, 5.0, script, TranscriptionOptions(initial_prompt="  General  "))
    assert tokenizer.decode(script.seen[0].prompt) == "General"
    assert script.seen[0].prompt[0] == tokenizer.special.start_of_prev


def test_silent_windows_give_no_segments(tokenizer: WhisperTokenizer) -> None:
    script = Script(tokenizer, [0, " Thank you.", 100], [0, " Thank you.", 100], no_speech_prob=0.9)
    script.results = [list(r) for r in script.results]
    silent = DecodingResult(tuple(script.results[0]), "Thank you.", -1.5, 0.9, "en")
    assert run(tokenizer, 40.0, lambda window: silent) == []  # type: ignore[arg-type]
    assert spans(run(tokenizer, 5.0, script)) == [(0.0, 2.0, "Thank you.")]  # confident text is kept


def test_text_without_timestamps_is_one_segment_per_window(tokenizer: WhisperTokenizer) -> None:
    script = Script(tokenizer, [" Hello there."])
    segments = run(tokenizer, 3.5, script, TranscriptionOptions(timestamps=False))
    assert spans(segments) == [(0.0, 3.5, "Hello there.")]
    assert script.seen[0].prompt == PromptRules(tokenizer.special).default


def test_audio_over_one_window_always_decodes_timestamps(tokenizer: WhisperTokenizer) -> None:
    script = Script(tokenizer, [0, " One.", 1400], [0, " Two.", 200])
    run(tokenizer, 40.0, script, TranscriptionOptions(timestamps=False))
    assert all(PromptRules(tokenizer.special).wants_timestamps(w.prompt) for w in script.seen)


def test_a_result_for_another_window_is_refused(tokenizer: WhisperTokenizer) -> None:
    transcription = Transcription(seconds_of_audio(40.0), tokenizer, TranscriptionOptions())
    window = transcription.next_window()
    assert window is not None
    transcription.accept(window, DecodingResult((), "", -0.1, 0.0, "en"))
    with pytest.raises(ValueError, match="seek"):
        transcription.accept(window, DecodingResult((), "", -0.1, 0.0, "en"))


Engines = Callable[[Precision], WhisperEngine]


def test_the_engine_decodes_timestamps_for_short_audio(engine_for: Engines, jfk_pcm: np.ndarray) -> None:
    segments = engine_for("int8").transcribe(jfk_pcm)
    assert len(segments) >= 2
    assert segments[0].start == 0.0 and segments[-1].end <= 11.0
    assert normalize(" ".join(s.text for s in segments)) == normalize(JFK_TEXT)


@pytest.mark.parametrize(
    "prompt",
    [(), (50257, 50257), (1, 50257), (50360, 50256, 50257), (50360, 1, 60000, 50257), (50257, 50362, 50362)],
)
def test_malformed_prompts_are_refused(engine_for: Engines, jfk_pcm: np.ndarray, prompt: tuple[int, ...]) -> None:
    with pytest.raises(InvalidPromptError):
        engine_for("int8").decode_batch([jfk_pcm], [WindowRequest(prompt)])


def test_the_language_detected_in_the_first_window_holds_for_every_later_one(multilingual: WhisperTokenizer) -> None:
    script = Script(multilingual, [0, " Hallo.", 1400], [0, " Welt.", 1400], language="de")
    segments = run(multilingual, 58.0, script)
    special = multilingual.special
    first, second = (window.prompt for window in script.seen)
    assert first[-2:] == (special.start_of_transcript, special.transcribe)  # no language: detect it
    assert second[-3:] == (special.start_of_transcript, special.languages["de"], special.transcribe)
    assert [segment.text for segment in segments] == ["Hallo.", "Welt."]


def test_a_given_language_and_the_translate_task_are_in_every_prompt(multilingual: WhisperTokenizer) -> None:
    script = Script(multilingual, [0, " Hello.", 1400], [0, " World.", 1400], language="fr")
    run(multilingual, 58.0, script, TranscriptionOptions(language="fr", task="translate"))
    special = multilingual.special
    assert all(
        window.prompt[-3:] == (special.start_of_transcript, special.languages["fr"], special.translate)
        for window in script.seen
    )


def test_an_english_only_prompt_has_no_language_or_task(tokenizer: WhisperTokenizer) -> None:
    script = Script(tokenizer, [0, " Hello.", 1400])
    run(tokenizer, 20.0, script)
    assert script.seen[0].prompt == (tokenizer.special.start_of_transcript,)


class TimedScript(Script):
    """Scripted decodings with token times: the kept text tokens 0.3 s apart from 0.2 s into the window."""

    def __call__(self, window: Window) -> DecodingResult:
        result = super().__call__(window)
        special = self.tokenizer.special
        text = kept_text(result.tokens, special.timestamp_begin, special.end_of_text)
        return replace(result, token_times=tuple(0.2 + 0.3 * k for k in range(len(text) + 1)) if text else ())


def test_with_words_the_seek_moves_to_the_end_of_the_last_word(tokenizer: WhisperTokenizer) -> None:
    script = TimedScript(
        tokenizer,
        [0, " Hello there.", 100, 100, " General Kenobi.", 250, 260, " You are a bold"],  # incomplete at the end
        [0, " You are a bold one.", 150],
    )
    segments = run(tokenizer, 31.0, script, TranscriptionOptions(word_timestamps=True))
    last_word_end = segments[1].words[-1].end  # " Kenobi." ends where "Kenobi" does: the mark only joins it
    assert last_word_end < 5.0 and script.seen[1].seek == round(last_word_end * 100)  # not 500, the timestamp
    assert [w.word for w in segments[0].words + segments[1].words] == [" Hello", " there.", " General", " Kenobi."]
    assert segments[1].end == last_word_end and segments[2].start >= last_word_end
    assert all(segment.words for segment in segments)
