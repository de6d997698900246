"""Session fixtures: the exported model repository, decoded audio, and real Triton servers."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from gateway.launcher import GatewayProcess
from tests.audio_files import JFK, LIBRISPEECH
from tests.gateway_process import TEST_API_KEY
from triton_server.launcher import TritonServer, TritonSettings, free_port_block, with_ports
from whisper_runtime.audio import decode_audio
from whisper_runtime.engine import EngineOptions, WhisperEngine
from whisper_runtime.repository import DEFAULT_REPOSITORY, Precision, RepositoryLayout


@pytest.fixture(scope="session")
def repository() -> Path:
    """The exported model repository (`make test` runs the export first)."""
    if not RepositoryLayout(DEFAULT_REPOSITORY).manifest.is_file():
        pytest.fail("model_repository has no export: run `make export` (make test does it)")
    return DEFAULT_REPOSITORY


@pytest.fixture(scope="session")
def jfk_pcm() -> np.ndarray:
    return decode_audio(JFK)


@pytest.fixture(scope="session")
def librispeech_pcm() -> dict[str, np.ndarray]:
    return {path.stem: decode_audio(path) for path in LIBRISPEECH}


@pytest.fixture(scope="session")
def engine_for(repository: Path) -> Callable[[Precision], WhisperEngine]:
    """In-process engines by precision, each loaded once per session."""

    @functools.cache
    def load(precision: Precision) -> WhisperEngine:
        return WhisperEngine.load(repository, EngineOptions(precision=precision))

    return load


def _start_triton(repository: Path, precision: Precision, workdir: Path) -> Iterator[TritonServer]:
    settings = with_ports(
        TritonSettings(repository=repository, precision=precision, workdir=workdir), free_port_block(3)
    )
    log = (workdir / f"triton-{precision}.log").open("wb")
    server = TritonServer(settings, log=log)
    try:
        server.start()
    except Exception:
        log.close()
        print((workdir / f"triton-{precision}.log").read_text()[-4000:])
        raise
    yield server
    server.stop()
    log.close()


@pytest.fixture(scope="session")
def triton(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    """The real Triton serving the default (int8) export, started once per session."""
    yield from _start_triton(repository, "int8", tmp_path_factory.mktemp("triton"))


@pytest.fixture(scope="session")
def triton_fp32(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    """A second real Triton serving the fp32 export."""
    yield from _start_triton(repository, "fp32", tmp_path_factory.mktemp("triton-fp32"))


GATEWAY_TEST_LIMITS = {
    "DATTAVANI_MAX_UPLOAD_BYTES": str(4 * 1024 * 1024),
    "DATTAVANI_MAX_AUDIO_SECONDS": "30",
    "DATTAVANI_DECODE_TIMEOUT_S": "10",
}


@pytest.fixture(scope="session")
def gateway(triton: TritonServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """The real gateway in front of the session's Triton, with a test key and a 4 MiB upload limit."""
    env = {
        "DATTAVANI_TRITON_URL": triton.settings.grpc_url,
        "DATTAVANI_TRITON_METRICS_URL": triton.settings.metrics_url,
        "DATTAVANI_API_KEYS": TEST_API_KEY,
        **GATEWAY_TEST_LIMITS,
    }
    process = GatewayProcess(env, tmp_path_factory.mktemp("gateway") / "gateway.log").start()
    yield process
    process.stop()
