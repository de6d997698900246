"""Launcher for the `tritonserver` binary bundled in the `nvidia-pytriton` wheel.

It lays out a python backend directory holding the backend stub built for the running
interpreter, sets the environment the stub needs (this venv's `bin` first on PATH, the
interpreter's own libpython first on LD_LIBRARY_PATH), starts the server on loopback with the
entry model of the serving profile, waits until it is ready, and stops it with SIGTERM (SIGKILL
after a grace period).

Profiles (docs/triton.md): `fused` runs log-mel, encoder and decoder in one python model per
instance (the CPU default: measured 15% more throughput on 2 cores than the pipeline); `pipeline`
is the ensemble of `<model>_encoder` and the batching `<model>_decoder` (the default where a GPU
execution provider exists, since batching pays there). Both serve the same tensors under the
Whisper model's name; one server serves every exported model unless told which.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import sys
import sysconfig
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Literal, get_args

from triton_models.settings import BURST_THREADS_ENV, INTRA_OP_THREADS_ENV, MODEL_PRECISIONS_ENV
from triton_server.child_process import ChildProcess, ChildStartError, answers_ok
from whisper_runtime.calibration import calibrated_precisions
from whisper_runtime.errors import ModelFilesError
from whisper_runtime.repository import DEFAULT_PRECISION, DEFAULT_REPOSITORY, Precision, exported_models
from whisper_runtime.sessions import gpu_available

PROJECT_ROOT = Path(__file__).resolve().parent.parent

Profile = Literal["fused", "pipeline"]
PROFILES: tuple[Profile, ...] = get_args(Profile)
# Models of the pipeline profile read `configs/pipeline.pbtxt` where they have one (the entry model).
PIPELINE_CONFIG_NAME = "pipeline"


def default_profile() -> Profile:
    """`pipeline` where ONNX Runtime offers a GPU execution provider, else `fused`."""
    return "pipeline" if gpu_available() else "fused"


class TritonLaunchError(RuntimeError):
    """Triton could not be found, prepared or started."""


@dataclass(frozen=True)
class TritonSettings:
    """Where and how to run Triton. Defaults serve `model_repository/` on 127.0.0.1:8000-8002."""

    repository: Path = DEFAULT_REPOSITORY
    models: tuple[str, ...] | None = None  # the Whisper models to serve; None: every one exported
    host: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    precision: Precision | None = None  # None: each model's faster on this host (model_precisions)
    profile: Profile | None = None  # None: default_profile()
    intra_op_threads: int | None = None  # None: each model's config.pbtxt decides
    burst_threads: int | None = None  # threads of a run alone on the host; None: each model's config.pbtxt decides
    workdir: Path = PROJECT_ROOT / ".run" / "triton"
    log_verbose: int = 0
    otlp_endpoint: str | None = None  # Triton's own OpenTelemetry traces go here (OTLP/HTTP) when set
    startup_timeout_s: float = 180.0
    exit_timeout_s: int = 5  # how long Triton waits for open connections and in-flight requests on SIGTERM
    stop_timeout_s: float = 15.0

    @property
    def served_models(self) -> tuple[str, ...]:
        """The Whisper models to serve, each the name of its entry model; TritonLaunchError when there is none."""
        models = self.models if self.models is not None else tuple(exported_models(self.repository))
        if not models:
            raise TritonLaunchError(f"no model is exported in {self.repository}: run `make export`")
        return models

    @property
    def calibration_record(self) -> Path:
        return self.workdir / "calibration.json"

    @property
    def serving_profile(self) -> Profile:
        return self.profile or default_profile()

    @property
    def http_url(self) -> str:
        return f"{self.host}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.host}:{self.metrics_port}/metrics"


@dataclass(frozen=True)
class TritonInstallation:
    """Paths inside the installed `nvidia-pytriton` wheel."""

    binary: Path
    library_dir: Path
    python_backend: Path
    stub: Path

    @classmethod
    def locate(cls) -> TritonInstallation:
        try:
            import pytriton
        except ImportError as exc:
            raise TritonLaunchError("nvidia-pytriton is not installed (pip install -e '.[serve]')") from exc
        package = Path(pytriton.__file__).resolve().parent
        server = package / "tritonserver"
        python_version = f"{sys.version_info.major}.{sys.version_info.minor}"
        installation = cls(
            binary=server / "bin" / "tritonserver",
            library_dir=package.parent / "nvidia_pytriton.libs",
            python_backend=server / "backends" / "python",
            stub=server / "python_backend_stubs" / python_version / "triton_python_backend_stub",
        )
        missing = [str(path) for path in vars(installation).values() if not path.exists()]
        if missing:
            raise TritonLaunchError(f"nvidia-pytriton installation is incomplete: missing {', '.join(missing)}")
        return installation


def prepare_backends(installation: TritonInstallation, workdir: Path) -> Path:
    """A backend directory whose python backend carries the stub for this interpreter."""
    backends = workdir / "backends"
    python_backend = backends / "python"
    python_backend.mkdir(parents=True, exist_ok=True)
    for source in [*installation.python_backend.iterdir(), installation.stub]:
        if source.is_file():
            destination = python_backend / source.name
            if not destination.exists() or destination.stat().st_mtime < source.stat().st_mtime:
                shutil.copy2(source, destination)
    return backends


def model_precisions(settings: TritonSettings) -> dict[str, Precision]:
    """The precision of each served model: the one set, else the faster on this host, measured once per host
    and export (whisper_runtime.calibration) and kept in the run directory's calibration record."""
    if settings.precision is not None:
        return dict.fromkeys(settings.served_models, settings.precision)
    try:
        calibrations = calibrated_precisions(settings.repository, settings.served_models, settings.calibration_record)
    except ModelFilesError as exc:
        raise TritonLaunchError(f"the precision could not be measured: {exc}") from exc
    return {model: calibration.precision for model, calibration in calibrations.items()}


def describe_precisions(precisions: dict[str, Precision]) -> str:
    return ", ".join(f"{model} {precision}" for model, precision in precisions.items())


def server_environment(
    settings: TritonSettings, installation: TritonInstallation, precisions: dict[str, Precision]
) -> dict[str, str]:
    env = dict(os.environ)
    interpreter_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([interpreter_bin, env.get("PATH", "")])
    library_dirs = [str(sysconfig.get_config_var("LIBDIR")), str(installation.library_dir)]
    env["LD_LIBRARY_PATH"] = os.pathsep.join([*library_dirs, env.get("LD_LIBRARY_PATH", "")]).rstrip(os.pathsep)
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env[MODEL_PRECISIONS_ENV] = json.dumps(precisions)
    if settings.intra_op_threads is not None:
        env[INTRA_OP_THREADS_ENV] = str(settings.intra_op_threads)
    if settings.burst_threads is not None:
        env[BURST_THREADS_ENV] = str(settings.burst_threads)
    return env


def server_command(settings: TritonSettings, installation: TritonInstallation, backends: Path) -> list[str]:
    return [
        str(installation.binary),
        f"--model-repository={settings.repository}",
        f"--backend-directory={backends}",
        f"--http-address={settings.host}",
        f"--http-port={settings.http_port}",
        f"--grpc-address={settings.host}",
        f"--grpc-port={settings.grpc_port}",
        f"--metrics-address={settings.host}",
        f"--metrics-port={settings.metrics_port}",
        *profile_args(settings.serving_profile, settings.served_models),
        "--allow-metrics=true",
        "--allow-gpu-metrics=false",
        f"--log-verbose={settings.log_verbose}",
        "--exit-on-error=true",
        "--strict-readiness=true",
        f"--exit-timeout-secs={settings.exit_timeout_s}",
        *tracing_args(settings.otlp_endpoint),
    ]


def profile_args(profile: Profile, models: tuple[str, ...]) -> list[str]:
    """Load only the entry models (an ensemble brings its steps along), in the profile's configuration."""
    args = ["--model-control-mode=explicit", *(f"--load-model={model}" for model in models)]
    return [*args, f"--model-config-name={PIPELINE_CONFIG_NAME}"] if profile == "pipeline" else args


def tracing_args(otlp_endpoint: str | None) -> list[str]:
    """Triton's OpenTelemetry tracing of every request, continuing the caller's `traceparent`."""
    if not otlp_endpoint:
        return []
    return [
        "--trace-config=mode=opentelemetry",
        f"--trace-config=opentelemetry,url={otlp_endpoint.rstrip('/')}/v1/traces",
        "--trace-config=opentelemetry,resource=service.name=triton",
        "--trace-config=rate=1",
        "--trace-config=level=TIMESTAMPS",
    ]


class TritonServer:
    """One tritonserver process. Use as a context manager, or call start() and stop()."""

    def __init__(self, settings: TritonSettings | None = None, log: IO[bytes] | None = None) -> None:
        self.settings = settings or TritonSettings()
        self._log = log
        self._child: ChildProcess | None = None
        self.precisions: dict[str, Precision] = {}  # each served model's, once started

    @property
    def pid(self) -> int | None:
        return None if self._child is None else self._child.pid

    def start(self) -> TritonServer:
        installation = TritonInstallation.locate()
        backends = prepare_backends(installation, self.settings.workdir)
        self.precisions = model_precisions(self.settings)
        self._child = ChildProcess(
            "tritonserver",
            server_command(self.settings, installation, backends),
            server_environment(self.settings, installation, self.precisions),
            stop_timeout_s=self.settings.stop_timeout_s,
            log=self._log,
            own_session=True,  # a Ctrl-C meant for the caller reaches Triton through stop()
        )
        try:
            self._child.start(self.is_ready, self.settings.startup_timeout_s, poll_s=0.25)
        except ChildStartError as exc:
            self._child = None
            raise TritonLaunchError(str(exc)) from exc
        return self

    def is_ready(self) -> bool:
        """Every served model answers its ready route."""
        return all(
            answers_ok(f"http://{self.settings.http_url}/v2/models/{model}/ready", timeout_s=2)
            for model in self.settings.served_models
        )

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after `stop_timeout_s`; returns the exit code."""
        child, self._child = self._child, None
        return None if child is None else child.stop()

    def __enter__(self) -> TritonServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def with_ports(settings: TritonSettings, base_port: int) -> TritonSettings:
    """`settings` on three consecutive ports from `base_port` (HTTP, gRPC, metrics)."""
    return replace(settings, http_port=base_port, grpc_port=base_port + 1, metrics_port=base_port + 2)


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port_block(size: int, host: str = "127.0.0.1") -> int:
    """The first of `size` consecutive free ports on `host` (for tests and benchmarks)."""
    for _ in range(200):
        base = random.randrange(20000, 60000 - size)  # noqa: S311  # nosec B311
        if all(_port_is_free(host, base + offset) for offset in range(size)):
            return base
    raise TritonLaunchError(f"no block of {size} free ports found on {host}")


@contextmanager
def triton_on_free_ports(
    workdir: Path,
    precision: Precision = DEFAULT_PRECISION,
    repository: Path = DEFAULT_REPOSITORY,
    profile: Profile | None = None,
    models: tuple[str, ...] | None = None,
) -> Iterator[TritonServer]:
    """A Triton on three free loopback ports, logging to `workdir/triton.log`, stopped on exit.

    A failed start raises TritonLaunchError with the end of that log.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "triton.log"
    settings = TritonSettings(
        repository=repository, models=models, precision=precision, profile=profile, workdir=workdir
    )
    with log_path.open("ab") as log:
        server = TritonServer(with_ports(settings, free_port_block(3)), log=log)
        try:
            server.start()
        except TritonLaunchError as exc:
            raise TritonLaunchError(
                f"{exc}; end of {log_path}:\n{log_path.read_text(errors='replace')[-4000:]}"
            ) from exc
        try:
            yield server
        finally:
            server.stop()
