"""Bad inputs to the Triton model get a Triton error, never a dead stub; the server keeps serving."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from tritonclient.utils import InferenceServerException

from tests.audio_files import JFK_TEXT, normalize
from tests.triton_server.triton_requests import grpc_infer
from triton_server.launcher import TritonServer
from whisper_runtime.audio import N_SAMPLES

BAD_INPUTS = {
    "empty audio": ({"WAV": np.zeros((1, 0), dtype=np.float32)}, "empty_audio"),
    "NaN samples": ({"WAV": np.full((1, 16000), np.nan, dtype=np.float32)}, "non_finite_audio"),
    "infinite samples": ({"WAV": np.full((1, 16000), np.inf, dtype=np.float32)}, "non_finite_audio"),
    "over-long audio": ({"WAV": np.zeros((1, N_SAMPLES + 16000), dtype=np.float32)}, "audio_too_long"),
    "wrong dtype": ({"WAV": np.zeros((1, 16000), dtype=np.int16)}, "data-type"),
    "lengths beyond the audio": (
        {"WAV": np.zeros((1, 16000), dtype=np.float32), "WAV_LENS": np.array([[32000]], dtype=np.int32)},
        "does not fit",
    ),
    "negative length": (
        {"WAV": np.zeros((1, 16000), dtype=np.float32), "WAV_LENS": np.array([[-1]], dtype=np.int32)},
        "does not fit",
    ),
    "prompt without start of transcript": (
        {"WAV": np.zeros((1, 16000), dtype=np.float32), "PROMPT": np.array([[50362]], dtype=np.int32)},
        "invalid_prompt",
    ),
    "prompt token beyond the vocabulary": (
        {"WAV": np.zeros((1, 16000), dtype=np.float32), "PROMPT": np.array([[50360, 99999, 50257]], dtype=np.int32)},
        "invalid_prompt",
    ),
    "prompt rows not matching the audio rows": (
        {"WAV": np.zeros((1, 16000), dtype=np.float32), "PROMPT": np.array([[50257], [50257]], dtype=np.int32)},
        "batch size does not match",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_an_error_and_the_server_keeps_serving(
    served: TritonServer, jfk_pcm: np.ndarray, case: str
) -> None:
    inputs, message = BAD_INPUTS[case]
    with pytest.raises(InferenceServerException, match=message):
        grpc_infer(served, inputs)
    (text,) = grpc_infer(served, {"WAV": jfk_pcm[None, :]}).reshape(-1)
    assert normalize(text.decode()) == normalize(JFK_TEXT)


def test_bad_requests_batched_with_good_ones_do_not_fail_them(served: TritonServer, jfk_pcm: np.ndarray) -> None:
    good = {"WAV": jfk_pcm[None, :]}
    bad = BAD_INPUTS["NaN samples"][0]
    mixed = [good, bad, good, bad, good, bad]

    def outcome(inputs: dict[str, np.ndarray]) -> str:
        try:
            return normalize(grpc_infer(served, inputs).reshape(-1)[0].decode())
        except InferenceServerException:
            return "error"

    with ThreadPoolExecutor(len(mixed)) as pool:
        outcomes = list(pool.map(outcome, mixed))
    assert outcomes == [normalize(JFK_TEXT), "error"] * 3
