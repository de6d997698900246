"""Execution providers are chosen automatically (TensorRT, then CUDA, then CPU), and model files
that are missing or broken fail as ModelFilesError. GPU providers cannot run here; their
selection is what is tested."""

from __future__ import annotations

from pathlib import Path

import pytest

from whisper_runtime.errors import ModelFilesError
from whisper_runtime.model_spec import ModelSpec
from whisper_runtime.sessions import SessionOptions, create_session, gpu_available, select_providers

GPU_MACHINE = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


@pytest.mark.parametrize(
    ("available", "chosen"),
    [
        (GPU_MACHINE, GPU_MACHINE),
        (["CPUExecutionProvider", "CUDAExecutionProvider"], ["CUDAExecutionProvider", "CPUExecutionProvider"]),
        (["CPUExecutionProvider", "AzureExecutionProvider"], ["CPUExecutionProvider"]),
    ],
)
def test_the_best_available_providers_come_first(available: list[str], chosen: list[str]) -> None:
    assert select_providers(available) == chosen


def test_a_gpu_is_available_when_a_gpu_provider_is() -> None:
    assert gpu_available(GPU_MACHINE)
    assert gpu_available(["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert not gpu_available(["CPUExecutionProvider", "AzureExecutionProvider"])
    assert not gpu_available()  # this machine


def test_requested_providers_must_be_available() -> None:
    assert select_providers(GPU_MACHINE, ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    with pytest.raises(ModelFilesError, match="CUDAExecutionProvider"):
        select_providers(["CPUExecutionProvider"], ["CUDAExecutionProvider"])


def test_a_missing_or_broken_model_file_is_a_model_files_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFilesError, match="does not exist"):
        create_session(tmp_path / "encoder.onnx", SessionOptions())
    (tmp_path / "broken.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(ModelFilesError, match="could not be loaded"):
        create_session(tmp_path / "broken.onnx", SessionOptions())


@pytest.mark.parametrize("content", ["{not json", '{"name": "x"}', "[]"])
def test_a_broken_model_spec_is_a_model_files_error(tmp_path: Path, content: str) -> None:
    with pytest.raises(ModelFilesError, match="missing"):
        ModelSpec.load(tmp_path / "whisper_spec.json")
    (tmp_path / "whisper_spec.json").write_text(content)
    with pytest.raises(ModelFilesError, match="not a valid model spec"):
        ModelSpec.load(tmp_path / "whisper_spec.json")
