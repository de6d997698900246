"""`python -m triton_server.calibrated tritonserver ARGS...`: a container's Triton in the precision calibrated on
its node, as the launcher serves natively.

Before it becomes the server (exec), it reads `--model-repository` and the `--load-model`s from the server's
own arguments (every exported model when none is named), gives each model the precision that is faster on this
host (`whisper_runtime.calibration`, kept in DATTAVANI_CALIBRATION_RECORD, /tmp/dattavani/calibration.json by
default, and measured again only when the host or the export changes), and passes the choice to the models as
DATTAVANI_MODEL_PRECISIONS. An explicit DATTAVANI_PRECISION wins: nothing is measured then.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from triton_models.settings import MODEL_PRECISIONS_ENV, PRECISION_ENV
from whisper_runtime.calibration import calibrated_precisions, describe
from whisper_runtime.errors import ModelFilesError
from whisper_runtime.repository import exported_models

CALIBRATION_RECORD_ENV = "DATTAVANI_CALIBRATION_RECORD"
DEFAULT_RECORD = Path("/tmp/dattavani/calibration.json")  # noqa: S108  # nosec B108  # the pod's emptyDir


class CommandError(ValueError):
    """The server command does not say what to calibrate."""


def _option(command: Sequence[str], name: str) -> list[str]:
    """Every value of `--name=value` or `--name value` in `command`."""
    values = []
    for index, arg in enumerate(command):
        if arg.startswith(f"{name}="):
            values.append(arg.split("=", 1)[1])
        elif arg == name and index + 1 < len(command):
            values.append(command[index + 1])
    return values


def named_models(command: Sequence[str]) -> tuple[Path, set[str]]:
    """The model repository the server command names, and the models it loads (none named: all)."""
    repositories = _option(command, "--model-repository")
    if len(repositories) != 1:
        raise CommandError(f"the server command must name one --model-repository, not {len(repositories)}")
    return Path(repositories[0]), set(_option(command, "--load-model"))


def served(command: Sequence[str]) -> tuple[Path, list[str]]:
    """The model repository the server command names, and the exported models it loads."""
    repository, loaded = named_models(command)
    models = [model for model in exported_models(repository) if not loaded or model in loaded]
    if not models:
        raise CommandError(f"no exported model to serve in {repository} (loading: {sorted(loaded) or 'all'})")
    return repository, models


def calibrated_environment(command: Sequence[str], environ: Mapping[str, str]) -> dict[str, str]:
    """The server's environment: `environ`, with the calibrated precisions unless DATTAVANI_PRECISION is set."""
    env = dict(environ)
    if env.get(PRECISION_ENV):
        print(f"precision set by {PRECISION_ENV}: {env[PRECISION_ENV]} (not calibrated)", file=sys.stderr)
        return env
    repository, models = served(command)
    record = Path(env.get(CALIBRATION_RECORD_ENV) or DEFAULT_RECORD)
    calibrations = calibrated_precisions(repository, models, record)
    for calibration in calibrations.values():
        print(f"calibrated on this host: {describe(calibration)} (record {record})", file=sys.stderr)
    env[MODEL_PRECISIONS_ENV] = json.dumps({model: c.precision for model, c in calibrations.items()})
    return env


def main(argv: list[str] | None = None) -> int:
    command = sys.argv[1:] if argv is None else argv
    if not command:
        print(f"usage: python -m triton_server.calibrated tritonserver ARGS...\n{__doc__}", file=sys.stderr)
        return 2
    try:
        env = calibrated_environment(command, os.environ)
    except (CommandError, ModelFilesError) as exc:
        print(f"triton_server.calibrated: {exc}", file=sys.stderr)
        return 2
    sys.stderr.flush()
    os.execvpe(command[0], command, env)  # noqa: S606  # nosec B606  # the container's own server command


if __name__ == "__main__":
    sys.exit(main())
