"""The launcher: backend layout, environment, and the `python -m triton_server` command of `make serve`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
from dataclasses import replace
from pathlib import Path

import pytest

from tests.audio_files import JFK, JFK_TEXT, normalize
from tests.banner import banner_line
from triton_models.settings import BURST_THREADS_ENV, MODEL_PRECISIONS_ENV, PRECISION_ENV, read_model_settings
from triton_server.launcher import (
    TritonInstallation,
    TritonLaunchError,
    TritonServer,
    TritonSettings,
    default_profile,
    free_port_block,
    model_precisions,
    prepare_backends,
    profile_args,
    server_environment,
    with_ports,
)
from whisper_runtime.repository import VERSION_FILE


def test_backend_dir_carries_the_stub_for_this_interpreter(tmp_path: Path) -> None:
    installation = TritonInstallation.locate()
    backends = prepare_backends(installation, tmp_path)
    stub = backends / "python" / "triton_python_backend_stub"
    assert stub.read_bytes() == installation.stub.read_bytes()
    assert (backends / "python" / "libtriton_python.so").is_file()
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in str(installation.stub)


def test_environment_puts_this_interpreter_and_its_libpython_first() -> None:
    env = server_environment(TritonSettings(), TritonInstallation.locate(), {"whisper-base": "fp32"})
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)
    assert env["LD_LIBRARY_PATH"].split(":")[0] == sysconfig.get_config_var("LIBDIR")
    assert json.loads(env[MODEL_PRECISIONS_ENV]) == {"whisper-base": "fp32"}
    assert BURST_THREADS_ENV not in env or BURST_THREADS_ENV in os.environ  # the models' configs decide
    bursting = server_environment(TritonSettings(burst_threads=1), TritonInstallation.locate(), {})
    assert bursting[BURST_THREADS_ENV] == "1"


def test_a_precision_set_overrides_the_calibration_and_none_set_is_calibrated_once(
    repository: Path, tmp_path: Path
) -> None:
    settings = TritonSettings(repository=repository, models=("whisper-tiny.en",), workdir=tmp_path)
    assert model_precisions(replace(settings, precision="fp32")) == {"whisper-tiny.en": "fp32"}
    assert not settings.calibration_record.exists()  # a set precision measures nothing
    calibrated = model_precisions(settings)
    record = json.loads(settings.calibration_record.read_text())
    assert calibrated == {"whisper-tiny.en": record["models"]["whisper-tiny.en"]["precision"]}
    with pytest.raises(TritonLaunchError, match=r"whisper_spec\.json is missing"):
        model_precisions(replace(settings, repository=tmp_path, models=("broken",)))


def test_model_settings_take_the_launcher_environment_over_config_parameters(tmp_path: Path) -> None:
    args = {
        "model_config": '{"parameters": {"precision": {"string_value": "int8"}, '
        '"intra_op_threads": {"string_value": "2"}, "whisper_model": {"string_value": "whisper-base"}}}',
        "model_repository": str(tmp_path / "whisper-base_encoder"),
        "model_version": "1",
    }
    assert read_model_settings(args, environ={}).engine.precision == "int8"
    assert read_model_settings(args, environ={}).engine.session.intra_op_threads == 2
    assert read_model_settings(args, environ={}).engine.session.burst_threads == 2  # no burst: the base count
    assert read_model_settings(args, environ={BURST_THREADS_ENV: "4"}).engine.session.burst_threads == 4
    assert read_model_settings(args, environ={PRECISION_ENV: "fp32"}).engine.precision == "fp32"
    chosen = {MODEL_PRECISIONS_ENV: '{"whisper-base": "fp32", "whisper-tiny.en": "int8"}', PRECISION_ENV: "int8"}
    assert read_model_settings(args, environ=chosen).engine.precision == "fp32"
    assert read_model_settings(args, environ={}).repository == tmp_path
    assert read_model_settings(args, environ={}).whisper_model == "whisper-base"


def test_a_version_added_by_a_rollout_serves_the_precision_it_records(tmp_path: Path) -> None:
    args = {
        "model_config": '{"parameters": {"whisper_model": {"string_value": "whisper-base"}}}',
        "model_repository": str(tmp_path / "whisper-base"),
        "model_version": "2",
    }
    (tmp_path / "whisper-base" / "2").mkdir(parents=True)
    (tmp_path / "whisper-base" / "2" / VERSION_FILE).write_text('{"precision": "fp32"}')
    settings = read_model_settings(args, environ={PRECISION_ENV: "int8"})
    assert (settings.version, settings.engine.precision) == ("2", "fp32")


def test_each_profile_loads_only_the_entry_models_in_its_configuration() -> None:
    fused = profile_args("fused", ("a", "b"))
    assert fused == ["--model-control-mode=explicit", "--load-model=a", "--load-model=b"]
    assert profile_args("pipeline", ("a", "b")) == [*fused, "--model-config-name=pipeline"]


def test_triton_serves_every_exported_model_unless_told_which(repository: Path, tmp_path: Path) -> None:
    assert {"whisper-tiny.en", "whisper-base"} <= set(TritonSettings(repository=repository).served_models)
    assert TritonSettings(repository=repository, models=("whisper-base",)).served_models == ("whisper-base",)
    with pytest.raises(TritonLaunchError, match="no model is exported"):
        _ = TritonSettings(repository=tmp_path).served_models


def test_the_pipeline_profile_is_the_default_only_where_a_gpu_provider_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_profile() == "fused"  # no GPU here
    monkeypatch.setattr(
        "whisper_runtime.sessions.ort.get_available_providers",
        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"],
    )
    assert default_profile() == "pipeline"
    assert TritonSettings().serving_profile == "pipeline"
    assert TritonSettings(profile="fused").serving_profile == "fused"


def test_a_model_that_cannot_load_fails_the_start(tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.pbtxt").write_text('backend: "no_such_backend"\n')
    settings = TritonSettings(repository=tmp_path, models=("broken",), workdir=tmp_path / "run", precision="int8")
    settings = with_ports(settings, free_port_block(3))
    with pytest.raises(TritonLaunchError, match="exited"):
        TritonServer(settings, log=(tmp_path / "log").open("wb")).start()


def test_serve_command_prints_a_working_example_and_stops_on_sigterm(repository: Path) -> None:
    base = free_port_block(3)
    command = [
        sys.executable, "-m", "triton_server",
        "--http-port", str(base), "--grpc-port", str(base + 1), "--metrics-port", str(base + 2),
        "--example-audio", str(JFK),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        example = banner_line(process.stdout, ".venv/bin/python -m triton_server.client").split()
        result = subprocess.run([sys.executable, *example[1:]], capture_output=True, text=True, check=True, timeout=120)
        assert normalize(result.stdout.split(":", 1)[1]) == normalize(JFK_TEXT)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
