"""The containers' Triton command (`python -m triton_server.calibrated tritonserver ...`): the server it becomes
gets the precision recorded or measured on this host for each model it loads, unless one is set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from triton_models.settings import MODEL_PRECISIONS_ENV, PRECISION_ENV
from triton_server.calibrated import CALIBRATION_RECORD_ENV
from whisper_runtime.calibration import Calibration
from whisper_runtime.host import this_host
from whisper_runtime.model_files import ModelFiles
from whisper_runtime.repository import DEFAULT_MODEL, file_sha256

# Stands in for tritonserver: prints the precisions it was given, and its arguments.
PRINT_PRECISIONS = f"import os, sys; print(os.environ.get({MODEL_PRECISIONS_ENV!r}), sys.argv[1:])"


def run_calibrated(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "triton_server.calibrated", sys.executable, "-c", PRINT_PRECISIONS, *args]
    environ = {key: value for key, value in os.environ.items() if key != PRECISION_ENV}
    return subprocess.run(command, env={**environ, **env}, capture_output=True, text=True, timeout=120, check=False)


def record_fp32_faster(repository: Path, record: Path) -> None:
    """A record of this host where fp32 was measured faster than int8 for tiny.en."""
    files = ModelFiles.load(repository, DEFAULT_MODEL)
    calibration = Calibration(DEFAULT_MODEL, file_sha256(files.layout.manifest), {"int8": 0.9, "fp32": 0.8}, "fp32",
                              "2026-12-04T00:00:00Z")  # fmt: skip
    record.write_text(json.dumps({"host": this_host().as_dict(), "models": {DEFAULT_MODEL: asdict(calibration)}}))


def test_the_server_gets_the_precision_recorded_on_this_host_for_each_model_it_loads(
    repository: Path, tmp_path: Path
) -> None:
    record = tmp_path / "calibration.json"
    record_fp32_faster(repository, record)
    args = [f"--model-repository={repository}", "--load-model", DEFAULT_MODEL]
    done = run_calibrated(args, **{CALIBRATION_RECORD_ENV: str(record)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{json.dumps({DEFAULT_MODEL: 'fp32'})} {args}"
    assert f"calibrated on this host: {DEFAULT_MODEL}: fp32" in done.stderr


def test_a_set_precision_is_passed_on_and_nothing_is_measured(repository: Path, tmp_path: Path) -> None:
    record = tmp_path / "calibration.json"
    done = run_calibrated(
        [f"--model-repository={repository}"], **{PRECISION_ENV: "int8", CALIBRATION_RECORD_ENV: str(record)}
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("None ") and not record.exists()


def test_a_command_that_does_not_say_what_to_serve_is_refused(repository: Path, tmp_path: Path) -> None:
    no_repository = run_calibrated(["--load-model=whisper-tiny.en"])
    assert no_repository.returncode == 2 and "must name one --model-repository" in no_repository.stderr
    nothing_exported = run_calibrated([f"--model-repository={repository}", "--load-model=whisper-large"])
    assert nothing_exported.returncode == 2 and "no exported model to serve" in nothing_exported.stderr
