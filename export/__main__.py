"""`python -m export`: export Whisper weights into the Triton model repository."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from export.errors import ExportError
from export.pipeline import export_to_repository
from export.sources import BUNDLED_NAMES, bundled_sources, resolve_source
from export.vad_model import export_vad_model
from whisper_runtime.repository import DEFAULT_REPOSITORY, PRECISIONS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m export",
        description="Export Whisper weights (CTranslate2 or Hugging Face) to ONNX in the Triton model repository.",
    )
    parser.add_argument(
        "--source",
        type=Path,
        help="CTranslate2 Whisper dir or Hugging Face Whisper checkpoint dir (default: the bundled models)",
    )
    parser.add_argument("--name", help="model name to serve --source under (default: the source's directory name)")
    parser.add_argument(
        "--model",
        dest="models",
        nargs="+",
        choices=BUNDLED_NAMES,
        default=list(BUNDLED_NAMES),
        help="bundled models to export when no --source is given (default: all)",
    )
    parser.add_argument("--repository", type=Path, default=DEFAULT_REPOSITORY, help="Triton model repository")
    parser.add_argument(
        "--precision",
        nargs="+",
        choices=PRECISIONS,
        default=list(PRECISIONS),
        help="precisions to export (default: all)",
    )
    parser.add_argument("--force", action="store_true", help="export even when the manifest is up to date")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # sources are local: never reach a model hub
    try:
        sources = [resolve_source(args.source, args.name)] if args.source else bundled_sources(args.models)
        for source in sources:
            manifest = export_to_repository(source, args.repository.resolve(), args.precision, force=args.force)
            sizes = ", ".join(
                f"{Path(name).name} {size / 1e6:.1f} MB"
                for name, size in manifest.files.items()
                if name.endswith(".onnx")
            )
            print(f"exported {source.name} ({', '.join(manifest.precisions)}): {sizes}")
        export_vad_model(args.repository.resolve())
    except ExportError as exc:
        print(f"export failed: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
