"""Session fixtures: the exported model repository, decoded audio, and real Triton servers."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from devstack.gateway_process import GatewayProcess
from tests.audio_files import JFK, LIBRISPEECH
from tests.gateway_process import gateway_env
from triton_server.launcher import TritonServer, triton_on_free_ports
from whisper_runtime.audio import decode_audio
from whisper_runtime.engine import EngineOptions, WhisperEngine
from whisper_runtime.model_files import ModelFiles
from whisper_runtime.repository import DEFAULT_MODEL, DEFAULT_REPOSITORY, Precision, exported_models

BASE = "whisper-base"  # the multilingual model beside the default tiny.en


@pytest.fixture(scope="session")
def repository() -> Path:
    """The exported model repository (`make test` runs the export first), holding both models."""
    missing = {DEFAULT_MODEL, BASE} - set(exported_models(DEFAULT_REPOSITORY))
    if missing:
        pytest.fail(f"model_repository lacks {', '.join(sorted(missing))}: run `make export` (make test does it)")
    return DEFAULT_REPOSITORY


@pytest.fixture(scope="session")
def model_files(repository: Path) -> Callable[[str], ModelFiles]:
    """Each exported model's spec and tokenizer, read once per session."""
    return functools.cache(lambda name: ModelFiles.load(repository, name))


@pytest.fixture(scope="session")
def jfk_pcm() -> np.ndarray:
    return decode_audio(JFK)


@pytest.fixture(scope="session")
def librispeech_pcm() -> dict[str, np.ndarray]:
    return {path.stem: decode_audio(path) for path in LIBRISPEECH}


@pytest.fixture(scope="session")
def engine_for(model_files: Callable[[str], ModelFiles]) -> Callable[..., WhisperEngine]:
    """In-process engines by precision (and model: tiny.en by default), each loaded once per session."""

    @functools.cache
    def load(precision: Precision, model: str = DEFAULT_MODEL) -> WhisperEngine:
        return WhisperEngine.load(model_files(model), EngineOptions(precision=precision))

    return load


@pytest.fixture(scope="session")
def triton(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    """The real Triton serving both models' default (int8) export in the default profile (fused on a
    CPU), started once per session."""
    with triton_on_free_ports(tmp_path_factory.mktemp("triton"), "int8", repository) as server:
        yield server


@pytest.fixture(scope="session")
def triton_pipeline(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    """A real Triton serving both models' int8 export in the pipeline profile (encoder and batching decoder)."""
    with triton_on_free_ports(tmp_path_factory.mktemp("triton-pipeline"), "int8", repository, "pipeline") as server:
        yield server


@pytest.fixture(scope="session")
def triton_fp32(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    """A second real Triton serving tiny.en's fp32 export."""
    with triton_on_free_ports(
        tmp_path_factory.mktemp("triton-fp32"), "fp32", repository, models=(DEFAULT_MODEL,)
    ) as server:
        yield server


GATEWAY_TEST_LIMITS = {
    "DATTAVANI_MAX_UPLOAD_BYTES": str(4 * 1024 * 1024),
    "DATTAVANI_MAX_AUDIO_SECONDS": "30",
    "DATTAVANI_DECODE_TIMEOUT_S": "10",
}


@pytest.fixture(scope="session")
def gateway(triton: TritonServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """The real gateway in front of the session's Triton, with a test key and a 4 MiB upload limit."""
    env = gateway_env(triton, **GATEWAY_TEST_LIMITS)
    process = GatewayProcess(env, tmp_path_factory.mktemp("gateway") / "gateway.log").start()
    yield process
    process.stop()
