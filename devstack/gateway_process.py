"""`python -m gateway` as a child process on a free loopback port, configured through its environment."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from triton_server.child_process import ChildProcess, ChildStartError, answers_ok
from triton_server.launcher import TritonSettings, free_port_block

STOP_TIMEOUT_S = 30.0  # longer than the gateway's default drain


def gateway_environment(triton: TritonSettings, api_key: str, **settings: str) -> dict[str, str]:
    """DATTAVANI_* settings for a gateway in front of the Triton of `triton` (serving the models it serves),
    accepting `api_key`, plus `settings`."""
    return {
        "DATTAVANI_TRITON_URL": triton.grpc_url,
        "DATTAVANI_MODELS": ",".join(triton.served_models),
        "DATTAVANI_TRITON_METRICS_URL": triton.metrics_url,
        "DATTAVANI_API_KEYS": api_key,
        **settings,
    }


class GatewayProcess:
    """One `python -m gateway` process on a free loopback port."""

    def __init__(self, env: dict[str, str], log_path: Path, cwd: Path | None = None) -> None:
        self.port = free_port_block(1)
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = {**os.environ, "DATTAVANI_HOST": "127.0.0.1", "DATTAVANI_PORT": str(self.port), **env}
        self._log_path = log_path
        self._cwd = cwd
        self._child: ChildProcess | None = None

    @property
    def pid(self) -> int | None:
        return None if self._child is None else self._child.pid

    def start(self, timeout_s: float = 60.0) -> GatewayProcess:
        with self._log_path.open("ab") as log:
            command = [sys.executable, "-m", "gateway"]
            self._child = ChildProcess("gateway", command, self._env, STOP_TIMEOUT_S, log, self._cwd)
            try:
                self._child.start(self.is_live, timeout_s)
            except ChildStartError as exc:
                self._child = None
                raise RuntimeError(f"{exc}: {self.log()[-2000:]}") from exc
        return self

    def is_live(self) -> bool:
        return answers_ok(f"{self.url}/health/live", timeout_s=1)

    def log(self) -> str:
        return self._log_path.read_text(errors="replace")

    def stop(self, already_signalled: bool = False) -> int | None:
        """SIGTERM (unless the caller sent it), then SIGKILL after STOP_TIMEOUT_S; returns the exit code."""
        child, self._child = self._child, None
        return None if child is None else child.stop(already_signalled)
