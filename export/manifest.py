"""The export manifest: what was exported from which source, by which tools, and when."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

# Bump when the export's output changes for the same source, so existing exports are redone.
# 2: the encoder's self-attention fused into MultiHeadAttention; 3: the aligner; 4: the files' sha256 digests;
# 5: the encoder takes windows shorter than 30 s
EXPORT_FORMAT_VERSION = 5
RECORDED_LIBRARIES = ("optimum-onnx", "optimum", "transformers", "torch", "onnx", "onnxruntime")


def library_versions() -> dict[str, str]:
    versions = {}
    for name in RECORDED_LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@dataclass(frozen=True)
class Manifest:
    format_version: int
    source_kind: str
    source_path: str
    source_sha256: str
    precisions: list[str]
    files: dict[str, int]  # path relative to the repository -> size in bytes
    sha256: dict[str, str]  # path relative to the repository -> digest, checked before a file is loaded
    exporter: str
    libraries: dict[str, str]
    exported_at: str
    export_seconds: float

    @classmethod
    def create(cls, **fields: object) -> Manifest:
        return cls(
            format_version=EXPORT_FORMAT_VERSION,
            exporter=f"optimum-onnx {library_versions()['optimum-onnx']}",
            libraries=library_versions(),
            exported_at=datetime.now(UTC).isoformat(timespec="seconds"),
            **fields,  # type: ignore[arg-type]
        )

    def save(self, path: Path) -> None:
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2) + "\n")
        temporary.replace(path)

    @classmethod
    def load(cls, path: Path) -> Manifest | None:
        """The manifest at `path`, or None when absent or unreadable (an export is then due)."""
        try:
            return cls(**json.loads(path.read_text()))
        except (FileNotFoundError, json.JSONDecodeError, TypeError):
            return None

    def covers(self, source_sha256: str, precisions: list[str], repository: Path) -> bool:
        """True when this export came from the same source, holds `precisions` and its files are intact."""
        return (
            self.format_version == EXPORT_FORMAT_VERSION
            and self.source_sha256 == source_sha256
            and set(precisions) <= set(self.precisions)
            and all(
                (repository / name).is_file() and (repository / name).stat().st_size == size
                for name, size in self.files.items()
            )
        )
