"""The atheris target: typed refusals or PCM within the limits are the only outcomes; anything else is a finding."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fuzzing.corpus import cases, encoded
from fuzzing.decode_target import MAX_AUDIO_SECONDS, check_decode
from whisper_runtime.audio import SAMPLE_RATE

SAMPLE = 150


def test_valid_audio_decodes_and_garbage_is_refused() -> None:
    pcm = check_decode(encoded(0))
    assert pcm is not None and pcm.dtype == np.float32 and pcm.size == 2 * SAMPLE_RATE
    assert check_decode(b"not audio at all") is None
    assert check_decode(b"") is None


def test_the_first_corpus_cases_decode_or_are_refused_with_a_typed_error() -> None:
    for upload in cases(0, SAMPLE):
        pcm = check_decode(upload.data)  # anything but a typed refusal raises
        assert pcm is None or pcm.size <= (MAX_AUDIO_SECONDS + 1) * SAMPLE_RATE, upload.name


@pytest.mark.timeout(120)
def test_a_short_atheris_run_finds_nothing(tmp_path: Path) -> None:
    """The harness works: atheris runs its budget through the instrumented decoder and finds nothing."""
    command = [sys.executable, "-m", "fuzzing.decode_target", "--workdir", str(tmp_path), "-runs=300", "-seed=1"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=110, check=False)
    report = json.loads((tmp_path / "decode-report.json").read_text())
    assert report["executions"] >= 300, result.stdout + result.stderr[-3000:]
    assert report["findings"] == {} and result.returncode == 0, result.stdout
