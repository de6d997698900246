"""Benchmark datasets from ../shared/audio, read from their manifests (never fetched)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

# The one place that knows where the shared test audio lies (beside the checkout; see its README).
AUDIO_ROOT = Path(__file__).resolve().parent.parent.parent / "shared" / "audio"
DATASETS = ("librispeech", "eval-short", "eval-long", "multilingual")
JFK_CLIP = AUDIO_ROOT / "jfk.flac"
WARM_UP_CLIP = JFK_CLIP  # run by every target before anything is timed


@dataclass(frozen=True)
class Clip:
    id: str
    path: Path
    reference: str
    seconds: float | None = None  # None: measured after decoding
    language: str = "en"  # ISO 639-1 code of the spoken language


def _librispeech(root: Path) -> list[Clip]:
    folder = root / "librispeech"
    references = dict(line.split(" ", 1) for line in (folder / "trans.txt").read_text().splitlines() if line.strip())
    return [Clip(path.stem, path, references[path.stem].strip()) for path in sorted(folder.glob("*.flac"))]


def _eval(root: Path, kind: str) -> list[Clip]:
    with (root / "eval" / "manifest.tsv").open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [
        Clip(Path(row["file"]).stem, root / "eval" / row["file"], row["reference"], float(row["seconds"]))
        for row in rows
        if row["file"].startswith(f"{kind}/")
    ]


def _multilingual(root: Path) -> list[Clip]:
    """FLEURS utterances in German, Spanish, French and Portuguese (see ../shared/audio/README.md)."""
    folder = root / "multilingual"
    with (folder / "manifest.tsv").open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [
        Clip(Path(row["file"]).stem, folder / row["file"], row["reference"], float(row["seconds"]), row["language"])
        for row in rows
    ]


def load_dataset(name: str, root: Path = AUDIO_ROOT) -> list[Clip]:
    if name == "librispeech":
        return _librispeech(root)
    if name in ("eval-short", "eval-long"):
        return _eval(root, name.removeprefix("eval-"))
    if name == "multilingual":
        return _multilingual(root)
    raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
