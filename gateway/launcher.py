"""Run the gateway as a child process (`python -m gateway`), alone or with a Triton, for tests and benchmarks."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from triton_server.launcher import Profile, TritonServer, free_port_block, triton_on_free_ports
from whisper_runtime.repository import Precision


class GatewayProcess:
    """One `python -m gateway` process on a free loopback port, configured through its environment."""

    def __init__(self, env: dict[str, str], log_path: Path, cwd: Path | None = None) -> None:
        self.port = free_port_block(1)
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = {**os.environ, "DATTAVANI_HOST": "127.0.0.1", "DATTAVANI_PORT": str(self.port), **env}
        self._log_path = log_path
        self._cwd = cwd
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self, timeout_s: float = 60.0) -> GatewayProcess:
        with self._log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "gateway"], env=self._env, stdout=log, stderr=subprocess.STDOUT, cwd=self._cwd
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"gateway exited with {self._process.returncode}: {self.log()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health/live", timeout=1):  # noqa: S310  # nosec B310
                    return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gateway did not come up in {timeout_s:.0f} s: {self.log()[-2000:]}")

    def log(self) -> str:
        return self._log_path.read_text(errors="replace")

    def stop(self, already_signalled: bool = False) -> int | None:
        """SIGTERM (unless the caller sent it), then SIGKILL after 30 s; returns the exit code."""
        process, self._process = self._process, None
        if process is None:
            return None
        if not already_signalled:
            process.send_signal(signal.SIGTERM)
        try:
            return process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()


@dataclass(frozen=True)
class Stack:
    triton: TritonServer
    gateway: GatewayProcess
    api_key: str


@contextmanager
def local_stack(
    workdir: Path,
    precision: Precision = "int8",
    gateway_env: dict[str, str] | None = None,
    profile: Profile | None = None,
) -> Iterator[Stack]:
    """Start Triton (in `profile`, None: the default), then the gateway in front of it (configured by
    `gateway_env`); stop both on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    api_key = secrets.token_urlsafe(16)
    with ExitStack() as stack:
        triton = stack.enter_context(triton_on_free_ports(workdir, precision, profile=profile))
        settings = triton.settings
        gateway = GatewayProcess(
            {
                "DATTAVANI_TRITON_URL": settings.grpc_url,
                "DATTAVANI_TRITON_METRICS_URL": settings.metrics_url,
                "DATTAVANI_API_KEYS": api_key,
                **(gateway_env or {}),
            },
            workdir / "gateway.log",
        ).start()
        stack.callback(gateway.stop)
        yield Stack(triton=triton, gateway=gateway, api_key=api_key)
