"""`make serve`'s command: the gateway starts its own Triton, prints a working curl command, stops both on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from tests.audio_files import JFK, JFK_TEXT, normalize
from tests.banner import banner_line
from triton_server.launcher import free_port_block


def test_gateway_with_its_own_triton_prints_a_working_curl_command(repository: Path, tmp_path: Path) -> None:
    base = free_port_block(4)
    key_file = tmp_path / "dev-api-key"
    key_file.write_text("dev-test-key\n")
    env = {
        **os.environ,
        "DATTAVANI_API_KEYS": "dev-test-key",
        "DATTAVANI_PORT": str(base + 3),
        "DATTAVANI_TRITON_URL": f"127.0.0.1:{base + 1}",
    }
    command = [
        sys.executable, "-m", "gateway", "--start-triton", "--dev-key-file", str(key_file), "--example-audio", str(JFK),
    ]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        curl = banner_line(process.stdout, "curl ")
        result = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, check=True, timeout=120)
        assert normalize(result.stdout.split('"text": "', 1)[1].split('"')[0]) == normalize(JFK_TEXT)
        children = psutil.Process(process.pid).children(recursive=True)
        assert any("tritonserver" in child.name() for child in children)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    assert not any(child.is_running() and child.status() != psutil.STATUS_ZOMBIE for child in children)
