"""A server run as a child process: started, polled until it answers, stopped with SIGTERM then SIGKILL.

Triton's launcher and the development stack's gateway both run their servers through this.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO


def answers_ok(url: str, timeout_s: float) -> bool:
    """Whether a GET of `url` (a server's own readiness or liveness route) answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310  # nosec B310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class ChildStartError(RuntimeError):
    """The child exited, or did not answer, while starting."""


class ChildProcess:
    """One child process. With `own_session` it leads a process group (Ctrl-C meant for the parent does not
    reach it, and SIGKILL ends its own children too)."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        env: Mapping[str, str],
        stop_timeout_s: float,
        log: IO[bytes] | None = None,
        cwd: Path | None = None,
        own_session: bool = False,
    ) -> None:
        self.name = name
        self._command = list(command)
        self._env = dict(env)
        self._stop_timeout_s = stop_timeout_s
        self._log = log
        self._cwd = cwd
        self._own_session = own_session
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self, is_ready: Callable[[], bool], timeout_s: float, poll_s: float = 0.1) -> None:
        """Start the child and poll `is_ready` until it holds; ChildStartError (child stopped) if the child
        exits first or `timeout_s` passes."""
        self._process = subprocess.Popen(
            self._command,
            env=self._env,
            stdout=self._log,
            stderr=subprocess.STDOUT if self._log else None,
            cwd=self._cwd,
            start_new_session=self._own_session,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            returncode = self._process.poll()
            if returncode is not None:
                self._process = None
                raise ChildStartError(f"{self.name} exited with code {returncode} while starting")
            if is_ready():
                return
            time.sleep(poll_s)
        self.stop()
        raise ChildStartError(f"{self.name} not ready after {timeout_s:.0f} s")

    def stop(self, already_signalled: bool = False) -> int | None:
        """SIGTERM (unless the caller sent it), then SIGKILL after `stop_timeout_s`; the exit code (None if not
        started)."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            if not already_signalled:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(self._stop_timeout_s)
            except subprocess.TimeoutExpired:
                if self._own_session:
                    os.killpg(process.pid, signal.SIGKILL)
                else:
                    process.kill()
                process.wait()
        return process.returncode
