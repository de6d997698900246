"""The same speech in every common container, codec, rate and channel count gives the same words."""

from __future__ import annotations

import numpy as np
import pytest

from devstack.gateway_process import GatewayProcess
from fuzzing.synthesis import UPLOAD_FORMATS, encode, encode_format
from tests.audio_files import JFK_TEXT, normalize
from tests.gateway.http import post_audio


@pytest.mark.parametrize("name", [name for name in UPLOAD_FORMATS if name != "flac"])
def test_each_format_gives_the_same_words(gateway: GatewayProcess, jfk_pcm: np.ndarray, name: str) -> None:
    response = post_audio(gateway, encode_format(jfk_pcm, name), filename=f"jfk.{name}")
    assert response.status_code == 200, response.text
    assert normalize(response.json()["text"]) == normalize(JFK_TEXT)


def test_stereo_48k_gives_the_same_words(gateway: GatewayProcess, jfk_pcm: np.ndarray) -> None:
    wav = encode(jfk_pcm, "wav", "pcm_s16le", rate=48000, channels=2)
    response = post_audio(gateway, wav, filename="jfk.wav")
    assert response.status_code == 200, response.text
    assert normalize(response.json()["text"]) == normalize(JFK_TEXT)


def test_8k_wav_gives_the_same_words_but_the_plural_s_lost_with_the_band(
    gateway: GatewayProcess, jfk_pcm: np.ndarray
) -> None:
    # At 8 kHz everything above 4 kHz is gone, and with it the /s/ of "Americans": greedy tiny.en
    # (faster-whisper's too, on the same file) hears "America(n)". Every other word is the same.
    wav = encode(jfk_pcm, "wav", "pcm_s16le", rate=8000)
    response = post_audio(gateway, wav, filename="jfk.wav")
    assert response.status_code == 200, response.text
    heard, expected = normalize(response.json()["text"]).split(), normalize(JFK_TEXT).split()
    assert len(heard) == len(expected)
    differing = [(h, e) for h, e in zip(heard, expected, strict=True) if h != e]
    assert differing in ([], [("america", "americans")], [("american", "americans")])
