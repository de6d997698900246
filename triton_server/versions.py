"""Versions of a Whisper model in the repository, and staging a new one from an export.

Version N of Whisper model `name` is directory N in each of its three Triton models: the entry model's
holds `model.py` and `version.json` (the precision it serves, and the size and sha256 of every weight
file it loads, copied from the export's manifest, not recomputed: a copy that went wrong is caught when
the version loads); the encoder's and decoder's hold the ONNX files of that precision. The export
writes version 1.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from whisper_runtime.integrity import DIGESTS_KEY, SIZES_KEY, WeightRecord
from whisper_runtime.repository import MODEL_VERSION, ModelLayout, Precision

SERVING_VERSION_PARAMETER = "serving_version"  # in a model's configuration: the version gateways should use
MODEL_FILE = "model.py"


class StagingError(RuntimeError):
    """A new version cannot be staged from the given export."""


def versions_on_disk(layout: ModelLayout) -> list[int]:
    """The version directories of the model's entry model, lowest first."""
    entry = layout.model_dir(layout.entry_model)
    return sorted(int(path.name) for path in entry.iterdir() if path.is_dir() and path.name.isdigit())


def stage_version(root: Path, name: str, precision: Precision, source: Path | None = None) -> ModelLayout:
    """Version N (one above the highest on disk) of model `name` under the repository `root`, serving
    `precision`: the ONNX files of the export at repository `source` (default `root`'s own export), copied.
    StagingError when the source is not an export of the same model with that precision."""
    target = ModelLayout(root, name)
    origin = ModelLayout(source or root, name, MODEL_VERSION)
    if not origin.spec.is_file() or origin.spec.read_bytes() != target.spec.read_bytes():
        raise StagingError(f"{origin.root} holds no export of {name} with the same model spec as {root}")
    record = WeightRecord.read(origin.manifest, origin.root)
    target = replace(target, version=str(versions_on_disk(target)[-1] + 1))
    sizes, digests = {}, {}
    for path in origin.onnx_files(precision):
        name_in_source = str(path.relative_to(origin.root))
        if name_in_source not in record.digests:
            raise StagingError(f"{origin.manifest} records no {precision} file {name_in_source}: export {precision}")
        copy = target.root / _in_version(path.relative_to(origin.root), target.version)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, copy)
        sizes[str(copy.relative_to(target.root))] = record.sizes[name_in_source]
        digests[str(copy.relative_to(target.root))] = record.digests[name_in_source]
    for triton_model in target.triton_models:
        target.version_dir(triton_model).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(origin.version_dir(triton_model) / MODEL_FILE, target.version_dir(triton_model) / MODEL_FILE)
    staged = {
        "precision": precision,
        SIZES_KEY: sizes,
        DIGESTS_KEY: digests,
        "staged_from": str(origin.manifest),
        "staged_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    target.version_manifest.write_text(json.dumps(staged, indent=2) + "\n")  # last: a partial copy has none
    return target


def _in_version(relative: Path, version: str) -> Path:
    """`<triton model>/<version>/...` with the version directory replaced."""
    triton_model, _, *rest = relative.parts
    return Path(triton_model, version, *rest)


def remove_version(layout: ModelLayout) -> None:
    """Delete version `layout.version` from every Triton model of the model (never the export's own)."""
    if layout.version == MODEL_VERSION:
        raise StagingError(f"version {MODEL_VERSION} is the export's own: it is not removed")
    for triton_model in layout.triton_models:
        shutil.rmtree(layout.version_dir(triton_model), ignore_errors=True)
