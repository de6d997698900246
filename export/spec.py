"""The runtime's ModelSpec, read from a Hugging Face Whisper checkpoint's configs."""

from __future__ import annotations

from pathlib import Path

from whisper_runtime.model_spec import ModelSpec


def spec_from_checkpoint(checkpoint: Path, name: str) -> ModelSpec:
    from transformers import GenerationConfig, WhisperConfig

    config = WhisperConfig.from_pretrained(checkpoint, local_files_only=True)  # nosec B615
    try:
        generation = GenerationConfig.from_pretrained(checkpoint, local_files_only=True)  # nosec B615
    except OSError:  # older checkpoints keep the token rules in config.json
        generation = GenerationConfig.from_model_config(config)
    return ModelSpec(
        name=name,
        n_mels=config.num_mel_bins,
        vocab_size=config.vocab_size,
        max_target_positions=config.max_target_positions,
        decoder_layers=config.decoder_layers,
        suppress_tokens=tuple(generation.suppress_tokens or ()),
        begin_suppress_tokens=tuple(generation.begin_suppress_tokens or ()),
        is_multilingual=bool(getattr(generation, "is_multilingual", config.vocab_size >= 51865)),
    )
