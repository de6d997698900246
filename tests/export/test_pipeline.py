"""The whole export, run into a fresh repository: every file the manifest lists, a spec and a
tokenizer that the runtime loads, an int8 model that transcribes speech, and a re-run that
finds the repository up to date."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from export.manifest import Manifest
from export.pipeline import export_to_repository
from export.sources import default_source
from tests.audio_files import JFK_TEXT, normalize
from triton_models.definitions import definition_files
from whisper_runtime.engine import EngineOptions, WhisperEngine
from whisper_runtime.integrity import WeightRecord
from whisper_runtime.model_files import ModelFiles
from whisper_runtime.repository import DEFAULT_MODEL, ModelLayout, file_sha256


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest, list[str]]:
    repository = tmp_path_factory.mktemp("repository")
    lines: list[str] = []
    manifest = export_to_repository(default_source(), repository, ["fp32", "int8"], report=lines.append)
    return repository, manifest, lines


def test_the_manifest_lists_every_written_file_with_its_size(exported: tuple[Path, Manifest, list[str]]) -> None:
    repository, manifest, lines = exported
    layout = ModelLayout(repository, DEFAULT_MODEL)
    expected = {*layout.onnx_files("fp32"), *layout.onnx_files("int8"), layout.tokenizer, layout.spec}
    assert {repository / name for name in manifest.files} == expected
    assert all(path.read_text() == text for path, text in definition_files(layout).items())  # the Triton models
    assert all((repository / name).stat().st_size == size for name, size in manifest.files.items())
    assert manifest.sha256 == {name: file_sha256(repository / name) for name in manifest.files}
    record = WeightRecord.read(layout.manifest, repository)  # what every loader checks the files against
    assert (record.sizes, record.digests) == (manifest.files, manifest.sha256)
    assert manifest.precisions == ["fp32", "int8"] and manifest.source_sha256 == default_source().checksum()
    assert Manifest.load(layout.manifest) == manifest
    assert lines[-1].startswith("[8/8] writing the manifest: done in")


def test_the_int8_export_is_smaller_and_transcribes_speech(
    exported: tuple[Path, Manifest, list[str]], jfk_pcm: np.ndarray
) -> None:
    repository = exported[0]
    sizes = {precision: sum(f.stat().st_size for f in ModelLayout(repository, DEFAULT_MODEL).onnx_files(precision))
             for precision in ("fp32", "int8")}  # fmt: skip
    assert sizes["int8"] < sizes["fp32"] / 2
    engine = WhisperEngine.load(ModelFiles.load(repository, DEFAULT_MODEL), EngineOptions(precision="int8"))
    (result,) = engine.decode_batch([jfk_pcm])
    assert normalize(result.text) == normalize(JFK_TEXT)


def test_a_second_run_finds_the_repository_up_to_date(exported: tuple[Path, Manifest, list[str]]) -> None:
    repository, manifest, _ = exported
    lines: list[str] = []
    assert export_to_repository(default_source(), repository, ["int8"], report=lines.append) == manifest
    assert lines == [f"{DEFAULT_MODEL} in {repository} is up to date (source sha256 {manifest.source_sha256[:12]})"]
