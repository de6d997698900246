"""The in-process engine decodes exactly as faster-whisper's CTranslate2 model on the same features."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tests.audio_files import JFK_TEXT, ONE_PER_LANGUAGE, normalize
from tests.conftest import BASE
from tests.reference import reference_tokens
from whisper_runtime.audio import decode_audio
from whisper_runtime.decoding import DecodingOptions
from whisper_runtime.engine import WhisperEngine
from whisper_runtime.errors import EmptyAudioError
from whisper_runtime.repository import Precision
from whisper_runtime.window_decoder import WindowRequest

Engines = Callable[[Precision], WhisperEngine]


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_engine_transcribes_jfk(engine_for: Engines, jfk_pcm: np.ndarray, precision: Precision) -> None:
    (result,) = engine_for(precision).decode_batch([jfk_pcm])
    assert normalize(result.text) == normalize(JFK_TEXT)


def test_fp32_tokens_equal_faster_whisper_on_the_same_features(
    engine_for: Engines, jfk_pcm: np.ndarray, librispeech_pcm: dict[str, np.ndarray]
) -> None:
    engine = engine_for("fp32")
    features = engine.features([jfk_pcm, *librispeech_pcm.values()])
    ours = [list(result.tokens) for result in engine.decode_features(features)]
    assert ours == reference_tokens(features, list(engine.prompts.default))


def test_base_fp32_tokens_equal_faster_whisper_in_each_language(engine_for: Callable[..., WhisperEngine]) -> None:
    """The multilingual model on a clip of each language, the language given: CTranslate2's tokens."""
    engine = engine_for("fp32", BASE)
    for clip in ONE_PER_LANGUAGE:
        features = engine.features([decode_audio(clip.path)])
        prompt = engine.prompts.build(language=clip.language)
        (ours,) = engine.decode_features(features, [WindowRequest(prompt)])
        assert [list(ours.tokens)] == reference_tokens(features, list(prompt), BASE), clip.id


def test_a_batch_decodes_like_its_rows_alone_in_fp32(
    engine_for: Engines, librispeech_pcm: dict[str, np.ndarray]
) -> None:
    engine = engine_for("fp32")
    clips = list(librispeech_pcm.values())
    batched = engine.decode_batch(clips)
    alone = [engine.decode_batch([clip])[0] for clip in clips]
    assert [r.tokens for r in batched] == [r.tokens for r in alone]


def test_partial_rows_are_encoded_over_their_own_context_beside_whole_windows(
    engine_for: Engines, jfk_pcm: np.ndarray
) -> None:
    """A batch mixing partial hypotheses (10 s and 12 s contexts) and whole windows decodes each row as alone."""
    engine = engine_for("int8")
    clips = [jfk_pcm[: 3 * 16000], jfk_pcm[: 11 * 16000], jfk_pcm[: 3 * 16000]]
    requests = [WindowRequest(engine.prompts.default, partial=partial) for partial in (True, True, False)]
    assert [engine.window(clip, request.partial).shape[-1] for clip, request in zip(clips, requests, strict=True)] == [
        1000, 1200, 3000
    ]  # fmt: skip
    together = engine.decode_batch(clips, requests)
    assert together == [
        engine.decode_batch([clip], [request])[0] for clip, request in zip(clips, requests, strict=True)
    ]
    assert normalize(together[1].text).startswith("and so my fellow americans ask not what your country")


def test_max_new_tokens_bounds_the_output(engine_for: Engines, jfk_pcm: np.ndarray) -> None:
    (result,) = engine_for("int8").decode_batch([jfk_pcm], options=DecodingOptions(max_new_tokens=3))
    assert len(result.tokens) == 3


def test_engine_rejects_empty_audio(engine_for: Engines) -> None:
    with pytest.raises(EmptyAudioError):
        engine_for("int8").decode_batch([np.zeros(0, dtype=np.float32)])


def test_a_loud_clip_cannot_spoil_the_rows_batched_with_it(engine_for: Engines, jfk_pcm: np.ndarray) -> None:
    # Finite but huge samples (a float WAV can hold them) once overflowed the log-mel to inf, and
    # int8 dynamic quantization then turned every row of the batch into "!!!!".
    loud = np.full(16000, 3e38, dtype=np.float32)
    good, _ = engine_for("int8").decode_batch([jfk_pcm, loud])
    assert normalize(good.text) == normalize(JFK_TEXT)
