"""ONNX export of a Hugging Face Whisper checkpoint with optimum, and int8 dynamic quantization.

Outputs (names from optimum's `automatic-speech-recognition-with-past` task):
- encoder_model.onnx: input_features (batch, n_mels, 3000) -> last_hidden_state (batch, 1500, d_model)
- decoder_model.onnx: input_ids (batch, tokens), encoder_hidden_states -> logits (batch, tokens, vocab),
  present.{layer}.decoder.{key,value} (self-attention cache) and present.{layer}.encoder.{key,value}
  (cross-attention keys/values, batch x heads x 1500 x head_dim)
- decoder_with_past_model.onnx: input_ids (batch, 1) and every past_key_values.{layer}.{decoder,encoder}.{key,value}
  -> logits (batch, 1, vocab) and present.{layer}.decoder.{key,value}
"""

from __future__ import annotations

from pathlib import Path

from whisper_runtime.repository import DECODER_FILE, DECODER_WITH_PAST_FILE, ENCODER_FILE

ONNX_FILES = (ENCODER_FILE, DECODER_FILE, DECODER_WITH_PAST_FILE)
EXPORT_TASK = "automatic-speech-recognition-with-past"


def export_onnx(checkpoint: Path, output: Path) -> list[Path]:
    """Export encoder and decoders to `output`; optimum validates them against PyTorch."""
    from optimum.exporters.onnx import main_export

    main_export(
        str(checkpoint),
        output=output,
        task=EXPORT_TASK,
        device="cpu",
        local_files_only=True,
        do_validation=True,
        atol=1e-4,  # fp32 reordering alone gives differences of a few 1e-5
    )
    # Post-processing stores the tied embedding once; its merged decoder is not used by the runtime.
    return [output / name for name in ONNX_FILES]
