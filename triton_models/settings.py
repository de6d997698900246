"""Settings of our Triton python models: config.pbtxt parameters, overridable by the launcher's environment."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from whisper_runtime.engine import EngineOptions
from whisper_runtime.model_files import ModelFiles
from whisper_runtime.repository import DEFAULT_PRECISION, ModelLayout, parse_precision, version_precision
from whisper_runtime.sessions import SessionOptions

# The launcher sets these for the server process; they win over config.pbtxt parameters.
PRECISION_ENV = "DATTAVANI_PRECISION"
MODEL_PRECISIONS_ENV = "DATTAVANI_MODEL_PRECISIONS"  # JSON {whisper model: precision}: the launcher's choice per model
INTRA_OP_THREADS_ENV = "DATTAVANI_INTRA_OP_THREADS"
BURST_THREADS_ENV = "DATTAVANI_BURST_THREADS"  # threads of a run alone on the host (1: never more than the base)
WHISPER_MODEL_PARAMETER = "whisper_model"  # the exported Whisper model a Triton model serves


@dataclass(frozen=True)
class ModelSettings:
    repository: Path
    whisper_model: str
    version: str  # the Triton version directory this instance serves
    engine: EngineOptions

    def model_files(self) -> ModelFiles:
        return ModelFiles.load(self.repository, self.whisper_model, self.version)


def _parameters(model_config: Mapping) -> dict[str, str]:
    return {key: value["string_value"] for key, value in model_config.get("parameters", {}).items()}


def read_model_settings(args: Mapping[str, str], environ: Mapping[str, str] = os.environ) -> ModelSettings:
    """Settings from the `args` Triton passes to `initialize`, with environment overrides. A version added
    by a rollout serves the precision its `version.json` names, whatever the environment says; else the
    launcher's choice for the model, else DATTAVANI_PRECISION, else config.pbtxt."""
    parameters = _parameters(json.loads(args["model_config"]))
    repository = Path(args["model_repository"]).resolve().parent
    whisper_model, version = parameters[WHISPER_MODEL_PARAMETER], args["model_version"]
    precision = (
        version_precision(ModelLayout(repository, whisper_model, version))
        or json.loads(environ.get(MODEL_PRECISIONS_ENV) or "{}").get(whisper_model)
        or environ.get(PRECISION_ENV)
        or parameters.get("precision")
        or DEFAULT_PRECISION
    )
    threads = environ.get(INTRA_OP_THREADS_ENV) or parameters.get("intra_op_threads") or "1"
    burst = environ.get(BURST_THREADS_ENV) or parameters.get("burst_threads") or threads
    return ModelSettings(
        repository=repository,
        whisper_model=whisper_model,
        version=version,
        engine=EngineOptions(
            precision=parse_precision(precision),
            session=SessionOptions(intra_op_threads=int(threads), burst_threads=int(burst)),
        ),
    )
