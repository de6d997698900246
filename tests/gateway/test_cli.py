"""The batch CLI writes one output per input and exits non-zero listing the files that failed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from gateway.launcher import GatewayProcess
from tests.audio_files import JFK, JFK_TEXT, LIBRISPEECH, normalize
from tests.gateway_process import TEST_API_KEY


def _run_cli(gateway: GatewayProcess, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "gateway.cli",
        "transcribe",
        "--url",
        gateway.url,
        "--api-key",
        TEST_API_KEY,
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_a_directory_is_transcribed_file_by_file(gateway: GatewayProcess, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    (inputs / "nested").mkdir(parents=True)
    shutil.copy(JFK, inputs / "jfk.flac")
    for clip in LIBRISPEECH[:2]:
        shutil.copy(clip, inputs / "nested" / clip.name)
    result = _run_cli(gateway, str(inputs), "--out", str(tmp_path / "out"), "--format", "srt")
    assert result.returncode == 0, result.stderr
    outputs = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert outputs == sorted(["jfk.srt", *(clip.stem + ".srt" for clip in LIBRISPEECH[:2])])
    assert normalize(JFK_TEXT) in normalize((tmp_path / "out" / "jfk.srt").read_text())


def test_failures_are_listed_and_the_exit_code_says_so(gateway: GatewayProcess, tmp_path: Path) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF but not really")
    result = _run_cli(gateway, str(JFK), str(broken), "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert f"FAILED {broken}" in result.stderr
    assert "not_audio" in result.stderr
    assert normalize((tmp_path / "out" / "jfk.txt").read_text()) == normalize(JFK_TEXT)
