"""The export CLI: clear failures on bad sources, and idempotence against its manifest."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from export.__main__ import main
from export.manifest import Manifest
from export.sources import BUNDLED_NAMES, bundled_sources, default_source, resolve_source
from whisper_runtime.repository import DEFAULT_MODEL, ModelLayout


def _fail_message(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err


def test_missing_source_directory_fails_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = _fail_message(capsys, ["--source", str(tmp_path / "nope"), "--repository", str(tmp_path / "repo")])
    assert "does not exist" in message


def test_directory_without_model_files_fails_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = _fail_message(capsys, ["--source", str(tmp_path), "--repository", str(tmp_path / "repo")])
    assert "no config.json" in message


def test_ct2_directory_missing_tokenizer_fails_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "model.bin").write_bytes(b"\0")
    (tmp_path / "config.json").write_text("{}")
    message = _fail_message(capsys, ["--source", str(tmp_path), "--repository", str(tmp_path / "repo")])
    assert "tokenizer.json" in message


def test_a_non_whisper_checkpoint_fails_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    message = _fail_message(capsys, ["--source", str(tmp_path), "--repository", str(tmp_path / "repo")])
    assert "'bert' checkpoint, not a Whisper one" in message


def test_a_ct2_model_of_another_kind_fails_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = default_source().path
    for name in ("config.json", "tokenizer.json"):
        shutil.copyfile(source / name, tmp_path / name)
    spec = b"TransformerSpec\0"
    (tmp_path / "model.bin").write_bytes(
        (6).to_bytes(4, "little") + len(spec).to_bytes(2, "little") + spec + (1).to_bytes(4, "little") + b"\0" * 8
    )
    message = _fail_message(capsys, ["--source", str(tmp_path), "--repository", str(tmp_path / "repo")])
    assert "TransformerSpec, not a Whisper model" in message


def test_unknown_precision_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--precision", "fp8"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'fp8'" in capsys.readouterr().err


def test_the_exported_repository_is_up_to_date_and_a_rerun_skips_it(repository: Path) -> None:
    manifests = {}
    for source in bundled_sources():
        manifests[source.name] = Manifest.load(ModelLayout(repository, source.name).manifest)
        assert manifests[source.name] is not None
        assert manifests[source.name].covers(source.checksum(), ["fp32", "int8"], repository)  # type: ignore[union-attr]
    result = subprocess.run([sys.executable, "-m", "export"], capture_output=True, text=True, check=True)
    assert result.stdout.count("is up to date") == len(BUNDLED_NAMES) == 2
    for name, manifest in manifests.items():  # not rewritten: same export time
        assert Manifest.load(ModelLayout(repository, name).manifest) == manifest


@pytest.mark.parametrize("model", BUNDLED_NAMES)
def test_manifest_records_source_tools_and_files(repository: Path, model: str) -> None:
    manifest = Manifest.load(ModelLayout(repository, model).manifest)
    assert manifest is not None
    assert manifest.source_kind == "ct2"
    assert len(manifest.source_sha256) == 64
    assert {"torch", "transformers", "optimum-onnx", "onnxruntime"} <= set(manifest.libraries)
    for precision in ("fp32", "int8"):
        for path in ModelLayout(repository, model).onnx_files(precision):  # type: ignore[arg-type]
            assert manifest.files[str(path.relative_to(repository))] == path.stat().st_size


def test_a_damaged_export_is_not_considered_up_to_date(repository: Path, tmp_path: Path) -> None:
    manifest = Manifest.load(ModelLayout(repository, DEFAULT_MODEL).manifest)
    assert manifest is not None
    assert not manifest.covers(manifest.source_sha256, ["fp32"], tmp_path)  # files absent there
    assert not manifest.covers("0" * 64, ["fp32"], repository)


def test_resolve_source_detects_the_source_kind() -> None:
    assert resolve_source(default_source().path).kind == "ct2"
