"""The CTranslate2 -> Hugging Face conversion reproduces CTranslate2's greedy tokens."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from export.ct2_reader import read_ct2_model
from export.ct2_to_hf import load_ct2_as_hf
from export.errors import InvalidSourceError
from export.sources import default_source
from tests.reference import reference_tokens
from whisper_runtime.features import window_features


def _torch_greedy(model, features: np.ndarray, prompt: list[int], max_new_tokens: int = 100) -> list[int]:
    """Plain greedy decoding in PyTorch, with the suppression rules of the generation config."""
    config = model.generation_config
    with torch.no_grad():
        encoded = model.model.encoder(torch.from_numpy(features)).last_hidden_state
        tokens: list[int] = []
        for _ in range(max_new_tokens):
            ids = torch.tensor([prompt + tokens])
            logits = model(encoder_outputs=(encoded,), decoder_input_ids=ids).logits[0, -1]
            logits[config.suppress_tokens] = -np.inf
            if not tokens:
                logits[config.begin_suppress_tokens] = -np.inf
            token = int(logits.argmax())
            if token == config.eos_token_id:
                return tokens
            tokens.append(token)
    return tokens


def test_converted_model_decodes_like_ctranslate2(jfk_pcm: np.ndarray) -> None:
    model = load_ct2_as_hf(default_source().path)
    features = window_features([jfk_pcm])
    prompt = [model.generation_config.decoder_start_token_id, model.generation_config.no_timestamps_token_id]
    assert _torch_greedy(model, features, prompt) == reference_tokens(features, prompt)[0]


def test_converted_model_has_tiny_en_dimensions() -> None:
    model = load_ct2_as_hf(default_source().path)
    config = model.config
    assert (config.d_model, config.encoder_layers, config.decoder_layers, config.vocab_size) == (384, 4, 4, 51864)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(37.76e6, rel=0.001)
    assert model.proj_out.weight.data_ptr() == model.model.decoder.embed_tokens.weight.data_ptr()


def test_reader_rejects_a_truncated_model_bin(tmp_path: Path) -> None:
    truncated = tmp_path / "model.bin"
    truncated.write_bytes((default_source().path / "model.bin").read_bytes()[:5000])
    with pytest.raises(InvalidSourceError, match="truncated"):
        read_ct2_model(truncated)


def test_reader_rejects_an_unknown_binary_version(tmp_path: Path) -> None:
    bogus = tmp_path / "model.bin"
    bogus.write_bytes((99).to_bytes(4, "little") + b"\0" * 16)
    with pytest.raises(InvalidSourceError, match="version 99"):
        read_ct2_model(bogus)
