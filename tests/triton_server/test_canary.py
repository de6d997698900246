"""The canary (Triton's liveness probe on Kubernetes): 0 while every model answers, 1 with one line otherwise,
including where Triton's own readiness stays 200 because only its python stubs died."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from tests.conftest import BASE
from triton_server.canary import main
from triton_server.child_process import answers_ok
from triton_server.launcher import TritonServer, free_port_block, triton_on_free_ports
from whisper_runtime.repository import DEFAULT_MODEL


def test_every_model_answering_exits_0_silently(triton: TritonServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", triton.settings.grpc_url, "--model", DEFAULT_MODEL, "--model", BASE]) == 0
    assert capsys.readouterr().err == ""


def test_a_model_triton_lacks_fails_with_one_line_naming_it(
    triton: TritonServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--url", triton.settings.grpc_url, "--model", DEFAULT_MODEL, "--model", "whisper-absent"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert "whisper-absent" in line and f"{DEFAULT_MODEL}:" not in line


def test_no_triton_listening_fails(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"127.0.0.1:{free_port_block(1)}"
    assert main(["--url", url, "--model", DEFAULT_MODEL, "--timeout-s", "2"]) == 1
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_dead_python_stubs_fail_the_canary_while_triton_says_ready(repository: Path, tmp_path: Path) -> None:
    with triton_on_free_ports(tmp_path, "int8", repository, models=(DEFAULT_MODEL,)) as server:
        args = ["--url", server.settings.grpc_url, "--model", DEFAULT_MODEL]
        assert main(args) == 0
        assert server.pid is not None
        stubs = [child for child in psutil.Process(server.pid).children(recursive=True) if "stub" in child.name()]
        for stub in stubs:
            stub.kill()
        psutil.wait_procs(stubs, timeout=10)
        assert answers_ok(f"http://{server.settings.http_url}/v2/health/ready", timeout_s=5)
        assert main(args) == 1
