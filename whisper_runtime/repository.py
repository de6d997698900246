"""Where the export puts each file of a model inside the Triton model repository.

The export writes these paths, and the Triton models and the gateway's fallback read them, so
the layout is defined once, here. Files shared by several models sit at the repository root,
which Triton ignores (it loads only sub-directories).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from whisper_runtime.model_spec import MODEL_SPEC_FILE

Precision = Literal["fp32", "int8"]
PRECISIONS: tuple[Precision, ...] = get_args(Precision)
DEFAULT_PRECISION: Precision = "int8"

ENTRY_MODEL = "whisper"
ENCODER_MODEL = "whisper_encoder"
DECODER_MODEL = "whisper_decoder"
MODEL_VERSION = "1"

ENCODER_FILE = "encoder_model.onnx"
DECODER_FILE = "decoder_model.onnx"
DECODER_WITH_PAST_FILE = "decoder_with_past_model.onnx"
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "manifest.json"

DEFAULT_REPOSITORY = Path(__file__).resolve().parent.parent / "model_repository"


def parse_precision(value: str) -> Precision:
    """`value` as a Precision, or ValueError naming the accepted values."""
    if value not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {value!r}")
    return value


@dataclass(frozen=True)
class RepositoryLayout:
    """Paths of the exported artifacts under one model repository root."""

    root: Path

    def version_dir(self, model: str) -> Path:
        return self.root / model / MODEL_VERSION

    def encoder(self, precision: Precision) -> Path:
        return self.version_dir(ENCODER_MODEL) / precision / ENCODER_FILE

    def decoder(self, precision: Precision) -> Path:
        return self.version_dir(DECODER_MODEL) / precision / DECODER_FILE

    def decoder_with_past(self, precision: Precision) -> Path:
        return self.version_dir(DECODER_MODEL) / precision / DECODER_WITH_PAST_FILE

    def onnx_files(self, precision: Precision) -> tuple[Path, ...]:
        return (self.encoder(precision), self.decoder(precision), self.decoder_with_past(precision))

    @property
    def tokenizer(self) -> Path:
        return self.root / TOKENIZER_FILE

    @property
    def spec(self) -> Path:
        return self.root / MODEL_SPEC_FILE

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST_FILE
