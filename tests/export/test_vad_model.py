"""The export's copy of the VAD model: into the repository with its sha256 beside it, kept when current,
copied again when altered, and never from a file other than the expected Silero VAD."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from export.errors import ExportError
from export.vad_model import SOURCE_SHA256, export_vad_model, vad_source
from whisper_runtime.repository import file_sha256, recorded_sha256, sha256_record, vad_model


def test_the_model_is_copied_with_its_sha256_then_kept_while_current(tmp_path: Path) -> None:
    lines: list[str] = []
    written = export_vad_model(tmp_path, report=lines.append)
    assert written == vad_model(tmp_path) and file_sha256(written) == recorded_sha256(written) == SOURCE_SHA256
    check = subprocess.run(["sha256sum", "-c", sha256_record(written).name], cwd=written.parent, check=False)
    assert check.returncode == 0
    modified = written.stat().st_mtime_ns
    export_vad_model(tmp_path, report=lines.append)
    assert "exported the VAD model" in lines[0] and "is current" in lines[1]
    assert written.stat().st_mtime_ns == modified


def test_an_altered_copy_is_replaced(tmp_path: Path) -> None:
    written = export_vad_model(tmp_path, report=lambda _: None)
    written.write_bytes(b"not a model")
    export_vad_model(tmp_path, report=lambda _: None)
    assert file_sha256(written) == SOURCE_SHA256


def test_a_source_that_is_not_the_expected_model_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.onnx"
    other.write_bytes(vad_source().read_bytes() + b"\0")
    with pytest.raises(ExportError, match="not the Silero VAD v6 model expected"):
        export_vad_model(tmp_path / "repository", source=other)
    with pytest.raises(ExportError, match="does not exist"):
        export_vad_model(tmp_path / "repository", source=tmp_path / "missing.onnx")
    assert not vad_model(tmp_path / "repository").exists()


def test_the_exported_repository_holds_the_model(repository: Path) -> None:
    assert recorded_sha256(vad_model(repository)) == file_sha256(vad_model(repository)) == SOURCE_SHA256


def test_without_faster_whisper_installed_the_export_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(ExportError, match=r"faster_whisper is not installed.*\[export\]"):
        vad_source()
