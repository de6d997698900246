"""The export pipeline: source -> HF checkpoint -> ONNX fp32 (encoder attention fused and windows shorter than
30 s allowed; the aligner for word times) -> int8 -> the source's Triton models in the model repository.

A TensorRT step (GPU machines only) would follow the ONNX steps and write engines beside them.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from export.aligner_export import export_aligner
from export.attention_fusion import fuse_encoder_attention
from export.ct2_to_hf import convert_ct2_to_hf
from export.encoder_context import free_encoder_frames
from export.manifest import Manifest
from export.onnx_export import ONNX_FILES, export_onnx
from export.quantize import quantize_int8
from export.sources import Source
from export.spec import spec_from_checkpoint
from triton_models.definitions import definition_files
from whisper_runtime.repository import ALIGNER_FILE, ENCODER_FILE, ModelLayout, Precision, file_sha256

Progress = Callable[[str], None]


class _Steps:
    """Numbered, timed progress lines: `[2/5] exporting ONNX ... done in 18.2 s`."""

    def __init__(self, total: int, report: Progress) -> None:
        self._total, self._done, self._report = total, 0, report

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        self._done += 1
        self._report(f"[{self._done}/{self._total}] {title} ...")
        started = time.perf_counter()
        yield
        self._report(f"[{self._done}/{self._total}] {title}: done in {time.perf_counter() - started:.1f} s")


def export_to_repository(
    source: Source,
    repository: Path,
    precisions: Sequence[Precision],
    force: bool = False,
    report: Progress = print,
) -> Manifest:
    """Export `source` into `repository` as Triton models named after it, unless its manifest already covers
    it; the models' Triton definitions are written either way. Returns the manifest."""
    layout = ModelLayout(repository, source.name)
    checksum = source.checksum()
    existing = Manifest.load(layout.manifest)
    if not force and existing is not None and existing.covers(checksum, list(precisions), repository):
        write_definitions(layout)
        report(f"{source.name} in {repository} is up to date (source sha256 {checksum[:12]})")
        return existing

    started = time.perf_counter()
    steps = _Steps(total=6 + (source.kind == "ct2") + ("int8" in precisions), report=report)
    with tempfile.TemporaryDirectory(prefix="dattavani-export-") as work:
        workdir = Path(work)
        checkpoint = source.path
        if source.kind == "ct2":
            with steps.step(f"converting CTranslate2 weights from {source.path}"):
                checkpoint = convert_ct2_to_hf(source.materialize(), workdir / "hf")
        with steps.step("exporting ONNX (fp32) with optimum"):
            fp32_dir = workdir / "onnx"
            export_onnx(checkpoint, fp32_dir)
        with steps.step("fusing the encoder's self-attention (MultiHeadAttention)"):
            fuse_encoder_attention(fp32_dir / ENCODER_FILE, checkpoint)
        with steps.step("letting the encoder take windows shorter than 30 s (for partial text)"):
            free_encoder_frames(fp32_dir / ENCODER_FILE, spec_from_checkpoint(checkpoint, source.name).n_mels)
        with steps.step("exporting the aligner (the alignment heads' cross-attention, for word times)"):
            export_aligner(checkpoint, fp32_dir)
        if "int8" in precisions:
            with steps.step("quantizing to int8 (dynamic, MatMul + Gather)"):
                for name in (*ONNX_FILES, ALIGNER_FILE):
                    quantize_int8(fp32_dir / name, workdir / "int8" / name)
        with steps.step(f"writing {source.name} into the model repository {repository}"):
            written = _write_repository(layout, workdir, checkpoint, precisions)
        with steps.step("writing the manifest"):
            manifest = Manifest.create(
                source_kind=source.kind,
                source_path=str(source.path),
                source_sha256=checksum,
                precisions=list(precisions),
                files={str(path.relative_to(repository)): path.stat().st_size for path in written},
                sha256={str(path.relative_to(repository)): file_sha256(path) for path in written},
                export_seconds=round(time.perf_counter() - started, 1),
            )
            manifest.save(layout.manifest)
    return manifest


def write_definitions(layout: ModelLayout) -> list[Path]:
    """Write the model's Triton definitions where they differ from what is there; returns every path."""
    files = definition_files(layout)
    for path, text in files.items():
        if not path.is_file() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return list(files)


def _write_repository(
    layout: ModelLayout, workdir: Path, checkpoint: Path, precisions: Sequence[Precision]
) -> list[Path]:
    layout.manifest.unlink(missing_ok=True)  # an interrupted write must not look complete
    write_definitions(layout)
    written = []
    for precision in precisions:
        exported_dir = workdir / ("onnx" if precision == "fp32" else precision)
        for destination in layout.onnx_files(precision):
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(exported_dir / destination.name, destination)
            written.append(destination)
    tokenizer = checkpoint / "tokenizer.json"
    shutil.copyfile(tokenizer if tokenizer.is_file() else workdir / "onnx" / "tokenizer.json", layout.tokenizer)
    spec_from_checkpoint(checkpoint, layout.name).save(layout.spec)
    return [*written, layout.tokenizer, layout.spec]
