"""What the runtime must know about an exported Whisper model, stored beside its ONNX files."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from whisper_runtime.errors import ModelFilesError

MODEL_SPEC_FILE = "whisper_spec.json"


@dataclass(frozen=True)
class ModelSpec:
    """Dimensions and token rules of one Whisper checkpoint."""

    name: str
    n_mels: int
    vocab_size: int
    max_target_positions: int
    decoder_layers: int
    suppress_tokens: tuple[int, ...]
    begin_suppress_tokens: tuple[int, ...]
    is_multilingual: bool

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> ModelSpec:
        try:
            fields = json.loads(path.read_text())
            return cls(
                **{
                    **fields,
                    "suppress_tokens": tuple(fields["suppress_tokens"]),
                    "begin_suppress_tokens": tuple(fields["begin_suppress_tokens"]),
                }
            )
        except FileNotFoundError as exc:
            raise ModelFilesError(f"{path} is missing: run the export first (make export)") from exc
        except (json.JSONDecodeError, TypeError, KeyError) as exc:
            raise ModelFilesError(f"{path} is not a valid model spec: {exc}") from exc
