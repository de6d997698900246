"""Where the export puts each file of a Whisper model inside the Triton model repository.

The export writes these paths, and the Triton models and the gateway's fallback read them, so
the layout is defined once, here. Each Whisper model `<name>` is three Triton models: `<name>`
(the entry model: fused, or an ensemble in the pipeline profile), `<name>_encoder` and
`<name>_decoder` (the pipeline's steps, which also hold the ONNX files). The model's tokenizer,
spec and manifest sit in the entry model's directory, where Triton reads only `config.pbtxt`
and the version directories.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from whisper_runtime.model_spec import MODEL_SPEC_FILE

if TYPE_CHECKING:
    from hashlib import _Hash

Precision = Literal["fp32", "int8"]
PRECISIONS: tuple[Precision, ...] = get_args(Precision)
DEFAULT_PRECISION: Precision = "int8"

MODEL_VERSION = "1"  # the Triton version directory the export writes; a rollout adds 2, 3, ...
ENCODER_SUFFIX = "_encoder"
DECODER_SUFFIX = "_decoder"

ENCODER_FILE = "encoder_model.onnx"
DECODER_FILE = "decoder_model.onnx"
DECODER_WITH_PAST_FILE = "decoder_with_past_model.onnx"
ALIGNER_FILE = "aligner_model.onnx"  # the alignment heads' cross-attention, for word times
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "manifest.json"
VERSION_FILE = "version.json"  # in a version directory added after the export: its precision and files
TRITON_CONFIG_FILE = "config.pbtxt"

DEFAULT_REPOSITORY = Path(__file__).resolve().parent.parent / "model_repository"

# Silero VAD (the gateway's `chunking_strategy`): a plain ONNX file, no Triton model (no config.pbtxt), so
# Triton lists the folder in its repository index but never loads it. Its sha256 lies beside it.
VAD_DIR = "vad"
VAD_FILE = "silero_vad.onnx"
SHA256_SUFFIX = ".sha256"


def parse_precision(value: str) -> Precision:
    """`value` as a Precision, or ValueError naming the accepted values."""
    if value not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {value!r}")
    return value


@dataclass(frozen=True)
class ModelLayout:
    """Paths of one exported Whisper model `name` under a model repository root, in Triton version `version`
    (the same directory number in each of its three Triton models)."""

    root: Path
    name: str
    version: str = MODEL_VERSION

    @property
    def entry_model(self) -> str:
        return self.name

    @property
    def encoder_model(self) -> str:
        return self.name + ENCODER_SUFFIX

    @property
    def decoder_model(self) -> str:
        return self.name + DECODER_SUFFIX

    @property
    def triton_models(self) -> tuple[str, str, str]:
        return (self.entry_model, self.encoder_model, self.decoder_model)

    def model_dir(self, triton_model: str) -> Path:
        return self.root / triton_model

    def version_dir(self, triton_model: str) -> Path:
        return self.model_dir(triton_model) / self.version

    def encoder(self, precision: Precision) -> Path:
        return self.version_dir(self.encoder_model) / precision / ENCODER_FILE

    def decoder(self, precision: Precision) -> Path:
        return self.version_dir(self.decoder_model) / precision / DECODER_FILE

    def decoder_with_past(self, precision: Precision) -> Path:
        return self.version_dir(self.decoder_model) / precision / DECODER_WITH_PAST_FILE

    def aligner(self, precision: Precision) -> Path:
        return self.version_dir(self.decoder_model) / precision / ALIGNER_FILE

    def onnx_files(self, precision: Precision) -> tuple[Path, ...]:
        return (
            self.encoder(precision),
            self.decoder(precision),
            self.decoder_with_past(precision),
            self.aligner(precision),
        )

    @property
    def tokenizer(self) -> Path:
        return self.model_dir(self.entry_model) / TOKENIZER_FILE

    @property
    def spec(self) -> Path:
        return self.model_dir(self.entry_model) / MODEL_SPEC_FILE

    @property
    def manifest(self) -> Path:
        return self.model_dir(self.entry_model) / MANIFEST_FILE

    @property
    def version_manifest(self) -> Path:
        return self.version_dir(self.entry_model) / VERSION_FILE

    @property
    def weight_record(self) -> Path:
        """Where this version's weight files are recorded: the export's manifest for the version it wrote,
        the version's own `version.json` for one added later."""
        return self.manifest if self.version == MODEL_VERSION else self.version_manifest


DEFAULT_MODEL = "whisper-tiny.en"  # the model a request without `model` gets, unless configured otherwise


def exported_models(root: Path) -> list[str]:
    """The Whisper models exported under `root` (those with a manifest): DEFAULT_MODEL first, then by name
    (served in this order, the first is a gateway's default)."""
    names = sorted(path.parent.name for path in root.glob(f"*/{MANIFEST_FILE}"))
    return sorted(names, key=lambda name: name != DEFAULT_MODEL)


def version_precision(layout: ModelLayout) -> Precision | None:
    """The precision a version added after the export serves (its `version.json`), None for the export's own."""
    try:
        return parse_precision(json.loads(layout.version_manifest.read_text())["precision"])
    except FileNotFoundError:
        return None


def vad_model(root: Path) -> Path:
    """Where the export puts the VAD model under the repository `root`."""
    return root / VAD_DIR / VAD_FILE


def feed_file(digest: _Hash, path: Path) -> None:
    """Add the bytes of the file at `path` to `digest`, a megabyte at a time."""
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    feed_file(digest, path)
    return digest.hexdigest()


def sha256_record(path: Path) -> Path:
    """The file beside `path` that holds its sha256, as `sha256sum` writes it (`sha256sum -c` checks it)."""
    return path.with_name(path.name + SHA256_SUFFIX)


def recorded_sha256(path: Path) -> str | None:
    """The sha256 recorded beside `path`, or None when there is none."""
    try:
        return sha256_record(path).read_text().split()[0]
    except (FileNotFoundError, IndexError):
        return None
