"""The Triton models of each Whisper model: rendered from one set of templates, as the export wrote them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from triton_models.definitions import definition_files
from triton_models.settings import WHISPER_MODEL_PARAMETER
from whisper_runtime.repository import ModelLayout, exported_models


@pytest.mark.parametrize("model", ["whisper-tiny.en", "whisper-base"])
def test_each_model_is_three_triton_models_naming_it(repository: Path, model: str) -> None:
    layout = ModelLayout(repository, model)
    files = definition_files(layout)
    configs = {path: text for path, text in files.items() if path.suffix == ".pbtxt"}
    names = {re.search(r'^name: "([^"]+)"', text, re.MULTILINE).group(1) for text in configs.values()}  # type: ignore[union-attr]
    assert names == {model, f"{model}_encoder", f"{model}_decoder"}
    assert all(f'key: "{WHISPER_MODEL_PARAMETER}", value: {{ string_value: "{model}" }}' in text
               for path, text in configs.items() if "pipeline" not in path.name)  # fmt: skip
    pipeline = next(text for path, text in configs.items() if path.name == "pipeline.pbtxt")
    assert f'model_name: "{model}_encoder"' in pipeline and f'model_name: "{model}_decoder"' in pipeline
    assert "$" not in "".join(files.values())  # every placeholder filled
    assert all(path.read_text() == text for path, text in files.items())  # what the export wrote


def test_the_repository_lists_the_exported_models(repository: Path) -> None:
    assert {"whisper-tiny.en", "whisper-base"} <= set(exported_models(repository))


def test_the_default_model_comes_first_so_a_gateway_in_front_defaults_to_it(repository: Path) -> None:
    assert exported_models(repository)[:2] == ["whisper-tiny.en", "whisper-base"]
