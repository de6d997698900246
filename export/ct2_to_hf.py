"""Conversion of CTranslate2 Whisper weights into a Hugging Face `WhisperForConditionalGeneration`.

This is the inverse of CTranslate2's `converters/transformers.py` for Whisper: self-attention
`linear_0` holds q|k|v fused (its k bias slice is zero, HF's k_proj has none), cross-attention
`linear_0` is q, `linear_1` holds k|v fused, `linear_2` is the output projection.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from export.ct2_reader import Ct2Model, read_ct2_model
from export.errors import InvalidSourceError
from whisper_runtime.tokenizer import WhisperTokenizer

if TYPE_CHECKING:
    from transformers import GenerationConfig, WhisperConfig, WhisperForConditionalGeneration

CT2_WHISPER_SPEC = "WhisperSpec"
CT2_WEIGHTS_FILE = "model.bin"
CT2_METADATA_FILES = ("config.json", "tokenizer.json")
CT2_REQUIRED_FILES = (CT2_WEIGHTS_FILE, *CT2_METADATA_FILES)
MULTILINGUAL_VOCAB_SIZE = 51865


def _layer_count(variables: dict[str, np.ndarray], prefix: str) -> int:
    count = 0
    while f"{prefix}/layer_{count}/ffn/linear_0/weight" in variables:
        count += 1
    return count


def _hf_state_dict(variables: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Map CTranslate2 variable names and fused tensors onto HF Whisper parameter names."""
    state: dict[str, np.ndarray] = {}

    def linear(hf: str, ct2: str) -> None:
        state[f"{hf}.weight"] = variables[f"{ct2}/weight"]
        if f"{ct2}/bias" in variables:
            state[f"{hf}.bias"] = variables[f"{ct2}/bias"]

    def norm(hf: str, ct2: str) -> None:
        state[f"{hf}.weight"] = variables[f"{ct2}/gamma"]
        state[f"{hf}.bias"] = variables[f"{ct2}/beta"]

    def split_linear(hf_names: list[str | None], ct2: str) -> None:
        """Split a fused CT2 projection; HF k projections (None bias) drop their zero bias."""
        weights = np.split(variables[f"{ct2}/weight"], len(hf_names))
        biases = np.split(variables[f"{ct2}/bias"], len(hf_names))
        for hf, weight, bias in zip(hf_names, weights, biases, strict=True):
            if hf is None:
                continue
            state[f"{hf}.weight"] = weight
            if not hf.endswith("k_proj"):
                state[f"{hf}.bias"] = bias

    def feed_forward(hf: str, ct2: str) -> None:
        norm(f"{hf}.final_layer_norm", f"{ct2}/ffn/layer_norm")
        linear(f"{hf}.fc1", f"{ct2}/ffn/linear_0")
        linear(f"{hf}.fc2", f"{ct2}/ffn/linear_1")

    def self_attention(hf: str, ct2: str) -> None:
        norm(f"{hf}.self_attn_layer_norm", f"{ct2}/self_attention/layer_norm")
        split_linear(
            [f"{hf}.self_attn.q_proj", f"{hf}.self_attn.k_proj", f"{hf}.self_attn.v_proj"],
            f"{ct2}/self_attention/linear_0",
        )
        linear(f"{hf}.self_attn.out_proj", f"{ct2}/self_attention/linear_1")

    for conv in ("conv1", "conv2"):
        linear(f"model.encoder.{conv}", f"encoder/{conv}")
    state["model.encoder.embed_positions.weight"] = variables["encoder/position_encodings/encodings"]
    for i in range(_layer_count(variables, "encoder")):
        self_attention(f"model.encoder.layers.{i}", f"encoder/layer_{i}")
        feed_forward(f"model.encoder.layers.{i}", f"encoder/layer_{i}")
    norm("model.encoder.layer_norm", "encoder/layer_norm")

    state["model.decoder.embed_tokens.weight"] = variables["decoder/embeddings/weight"]
    state["model.decoder.embed_positions.weight"] = variables["decoder/position_encodings/encodings"]
    for i in range(_layer_count(variables, "decoder")):
        hf, ct2 = f"model.decoder.layers.{i}", f"decoder/layer_{i}"
        self_attention(hf, ct2)
        norm(f"{hf}.encoder_attn_layer_norm", f"{ct2}/attention/layer_norm")
        linear(f"{hf}.encoder_attn.q_proj", f"{ct2}/attention/linear_0")
        split_linear([f"{hf}.encoder_attn.k_proj", f"{hf}.encoder_attn.v_proj"], f"{ct2}/attention/linear_1")
        linear(f"{hf}.encoder_attn.out_proj", f"{ct2}/attention/linear_2")
        feed_forward(hf, ct2)
    norm("model.decoder.layer_norm", "decoder/layer_norm")
    return state


def _whisper_config(variables: dict[str, np.ndarray], tokenizer: WhisperTokenizer) -> WhisperConfig:
    from transformers import WhisperConfig

    vocab_size, d_model = variables["decoder/embeddings/weight"].shape
    ids = tokenizer.special
    return WhisperConfig(
        vocab_size=int(vocab_size),
        num_mel_bins=int(variables["encoder/conv1/weight"].shape[1]),
        d_model=int(d_model),
        encoder_layers=_layer_count(variables, "encoder"),
        decoder_layers=_layer_count(variables, "decoder"),
        encoder_attention_heads=int(variables["encoder/num_heads"]),
        decoder_attention_heads=int(variables["decoder/num_heads"]),
        encoder_ffn_dim=int(variables["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
        decoder_ffn_dim=int(variables["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
        max_source_positions=int(variables["encoder/position_encodings/encodings"].shape[0]),
        max_target_positions=int(variables["decoder/position_encodings/encodings"].shape[0]),
        decoder_start_token_id=ids.start_of_transcript,
        bos_token_id=ids.end_of_text,
        eos_token_id=ids.end_of_text,
        pad_token_id=ids.end_of_text,
        tie_word_embeddings=True,
    )


def _generation_config(config: WhisperConfig, ct2_config: dict, tokenizer: WhisperTokenizer) -> GenerationConfig:
    from transformers import GenerationConfig

    ids = tokenizer.special
    return GenerationConfig(
        decoder_start_token_id=ids.start_of_transcript,
        bos_token_id=ids.end_of_text,
        eos_token_id=ids.end_of_text,
        pad_token_id=ids.end_of_text,
        no_timestamps_token_id=ids.no_timestamps,
        max_length=config.max_target_positions,
        suppress_tokens=list(ct2_config.get("suppress_ids", [])),
        begin_suppress_tokens=list(ct2_config.get("suppress_ids_begin", [])),
        alignment_heads=list(ct2_config.get("alignment_heads", [])),
        is_multilingual=tokenizer.special.multilingual,
    )


def validate_ct2_dir(source: Path, required: Sequence[str] = CT2_REQUIRED_FILES) -> None:
    """Raise InvalidSourceError unless `source` looks like a CTranslate2 Whisper model (has `required`)."""
    if not source.is_dir():
        raise InvalidSourceError(f"source {source} is not a directory")
    missing = [name for name in required if not (source / name).is_file()]
    if missing:
        raise InvalidSourceError(f"source {source} lacks CTranslate2 files: {', '.join(missing)}")


def load_ct2_as_hf(source: Path) -> WhisperForConditionalGeneration:
    """Build a float32 HF Whisper model from a CTranslate2 Whisper directory."""
    import torch
    from transformers import WhisperForConditionalGeneration

    validate_ct2_dir(source)
    ct2: Ct2Model = read_ct2_model(source / "model.bin")
    if ct2.spec_name != CT2_WHISPER_SPEC:
        raise InvalidSourceError(f"{source} holds a {ct2.spec_name}, not a Whisper model")
    if any(name.endswith("weight_scale") for name in ct2.variables):
        raise InvalidSourceError(f"{source} holds int8-quantized CTranslate2 weights; use float weights")
    try:
        ct2_config = json.loads((source / "config.json").read_text())
    except json.JSONDecodeError as exc:
        raise InvalidSourceError(f"{source}/config.json is not valid JSON: {exc}") from exc
    multilingual = ct2.variables["decoder/embeddings/weight"].shape[0] >= MULTILINGUAL_VOCAB_SIZE
    tokenizer = WhisperTokenizer.from_file(source / "tokenizer.json", multilingual)
    config = _whisper_config(ct2.variables, tokenizer)
    model = WhisperForConditionalGeneration(config).eval()
    model.generation_config = _generation_config(config, ct2_config, tokenizer)
    state = {name: torch.from_numpy(np.ascontiguousarray(a)) for name, a in _hf_state_dict(ct2.variables).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    # proj_out is tied to the token embedding and therefore absent from the state dict.
    if unexpected or set(missing) - {"proj_out.weight"}:
        raise InvalidSourceError(f"{source}: weights do not match Whisper (missing {missing}, unexpected {unexpected})")
    model.tie_weights()
    return model


def convert_ct2_to_hf(source: Path, destination: Path) -> Path:
    """Write a Hugging Face Whisper checkpoint (weights, configs, tokenizer) converted from CT2."""
    from transformers import WhisperFeatureExtractor

    model = load_ct2_as_hf(source)
    destination.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(destination)
    WhisperFeatureExtractor(feature_size=model.config.num_mel_bins).save_pretrained(destination)
    shutil.copyfile(source / "tokenizer.json", destination / "tokenizer.json")
    return destination
