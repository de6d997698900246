"""The models' tensor contract: what the models write, their clients read back; config.pbtxt agrees with it."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from triton_models import contract
from triton_models.definitions import CONFIGS
from whisper_runtime.decoding import DecodingResult
from whisper_runtime.errors import InvalidAudioError, InvalidInputError, InvalidPromptError
from whisper_runtime.prompts import PromptRules
from whisper_runtime.tokenizer import SpecialTokens
from whisper_runtime.window_decoder import WindowRequest

RULES = PromptRules(SpecialTokens(50256, 50257, 50360, 50361, 50362, start_of_lm=50359))
RESULTS = [
    DecodingResult(
        tokens=(440, 50363),
        text="Hé",
        avg_logprob=-0.25,
        no_speech_prob=0.01,
        language="en",
        temperature=0.4,
        token_times=(0.0, 0.5),
    ),
    DecodingResult(tokens=(), text="", avg_logprob=-1.5, no_speech_prob=0.9, language="de"),
]
TEMPLATES = sorted(CONFIGS.glob("*.pbtxt"))


def test_what_a_model_writes_its_client_reads_back() -> None:
    outputs = contract.decoding_outputs(RESULTS)
    assert outputs[contract.TOKENS].tolist() == [[440, 50363], [contract.TOKEN_PADDING, contract.TOKEN_PADDING]]
    assert outputs[contract.TOKEN_TIMES].tolist() == [[0.0, 0.5], [contract.TIME_PADDING, contract.TIME_PADDING]]
    assert contract.decoding_results(outputs) == [
        DecodingResult(
            r.tokens,
            r.text,
            float(np.float32(r.avg_logprob)),
            float(np.float32(r.no_speech_prob)),
            r.language,
            r.temperature,
            r.token_times,
        )
        for r in RESULTS
    ]


def test_without_word_times_the_times_tensor_still_has_a_column() -> None:
    assert contract.decoding_outputs(RESULTS[1:])[contract.TOKEN_TIMES].shape == (1, 1)


def test_a_window_request_carries_its_pcm_and_settings_as_the_model_reads_them() -> None:
    pcm = np.linspace(-0.5, 0.5, 16000, dtype=np.float32)
    window = WindowRequest(RULES.build(timestamps=True), temperature=0.4, seed=7, word_timestamps=True, frames=100)
    inputs = contract.window_inputs(pcm, window)
    assert [clip.tolist() for clip in contract.read_clips(inputs[contract.WAV], None)] == [pcm.tolist()]
    frames = contract.read_frames(inputs[contract.WAV_LENS], 1, 480_000)
    assert frames == [100]
    assert contract.read_requests(inputs, 1, frames, RULES) == [window]
    assert contract.read_requests({}, 2, [3000, 3000], RULES) == [WindowRequest(RULES.default)] * 2
    assert set(contract.window_inputs(pcm)) == {contract.WAV}
    partial = WindowRequest(RULES.default, partial=True)
    assert contract.read_requests(contract.window_inputs(pcm, partial), 1, [100], RULES) == [
        replace(partial, frames=100)
    ]
    with pytest.raises(InvalidInputError, match="without word timestamps"):
        contract.read_requests({contract.PARTIAL: np.array([[True]]), contract.WORD_TIMESTAMPS: np.array([[True]])},
                               1, [1], RULES)  # fmt: skip


def test_a_canary_is_its_pcm_decoded_at_the_default_prompt_as_a_partial_hypothesis() -> None:
    pcm = np.zeros(8000, dtype=np.float32)
    inputs = contract.canary_inputs(pcm)
    assert [clip.tolist() for clip in contract.read_clips(inputs[contract.WAV], None)] == [pcm.tolist()]
    assert contract.read_requests(inputs, 1, [50], RULES) == [WindowRequest(RULES.default, frames=50, partial=True)]


def test_clips_are_cut_to_their_lengths_and_bad_lengths_prompts_or_settings_refused() -> None:
    wav = np.zeros((2, 100), dtype=np.float32)
    assert [len(clip) for clip in contract.read_clips(wav, np.array([[100], [40]], dtype=np.int32))] == [100, 40]
    with pytest.raises(InvalidAudioError, match="WAV_LENS"):
        contract.read_clips(wav, np.array([[101], [40]], dtype=np.int32))
    with pytest.raises(InvalidPromptError, match="does not fit"):
        contract.read_requests({contract.PROMPT: np.array([[50257]], dtype=np.int32)}, 2, [1, 1], RULES)
    for name, value in [(contract.TEMPERATURE, 1.5), (contract.TEMPERATURE, -0.1), (contract.SEED, -1)]:
        with pytest.raises(InvalidInputError, match=name):
            contract.read_requests({name: np.array([[value]])}, 1, [1], RULES)
    with pytest.raises(InvalidInputError, match="does not fit"):
        contract.read_requests({contract.SEED: np.array([[1], [2]])}, 1, [1], RULES)


@pytest.mark.parametrize("config", TEMPLATES, ids=lambda path: path.name)
def test_every_tensor_a_config_names_is_in_the_contract(config: Path) -> None:
    text = config.read_text()
    tensors = set(re.findall(r'\{\s*name:\s*"(\w+)"', text))
    known = {value for name, value in vars(contract).items() if name.isupper() and isinstance(value, str)}
    assert tensors and tensors <= known, tensors - known
    if re.search(r'^name: "\$\{model\}"$', text, re.MULTILINE):  # the entry model, in either profile
        inputs = {contract.WAV, contract.WAV_LENS, contract.PROMPT, contract.TEMPERATURE, contract.SEED}
        assert tensors == {*inputs, contract.WORD_TIMESTAMPS, contract.PARTIAL, *contract.DECODING_OUTPUTS}
