"""A batch of audio files to transcribe: where each output goes, which are done, their lengths, the summary.

Pure planning and accounting for `batch_client.cli`; nothing here sends requests or writes files.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import av

from whisper_runtime.audio import declared_seconds

EXTENSIONS = {"json": "json", "verbose_json": "json", "text": "txt", "srt": "srt", "vtt": "vtt"}
AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".webm", ".mp4", ".mka", ".wma"}
PROBE_THREADS = 8  # probing reads headers only: a few threads hide file-system latency


class OutputCollisionError(ValueError):
    """Two inputs would write the same output file."""


@dataclass(frozen=True)
class Job:
    audio: Path
    output: Path
    seconds: float = 0.0  # from the file's metadata; 0 when unknown


@dataclass(frozen=True)
class Failure:
    path: Path
    reason: str


def find_audio(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


def _sources(given: Path) -> list[tuple[Path, Path]]:
    """(audio file, its output's path relative to the output directory, before the extension)."""
    if given.is_dir():
        return [(audio, audio.relative_to(given)) for audio in find_audio(given)]
    return [(given, Path(given.name))]


def plan_jobs(inputs: Sequence[Path], out_dir: Path, response_format: str) -> list[Job]:
    """One job per audio file: files under a directory keep their path relative to it, files given
    directly go to the top of `out_dir`. A file reached twice is done once; two files that would
    write the same output raise OutputCollisionError."""
    extension = EXTENSIONS[response_format]
    jobs: dict[Path, Job] = {}
    writers: dict[Path, Path] = {}
    for given in inputs:
        for audio, relative in _sources(given):
            output = out_dir / relative.with_suffix(f".{extension}")
            if audio.resolve() in jobs:
                continue
            if output in writers:
                raise OutputCollisionError(f"{writers[output]} and {audio} would both write {output}")
            writers[output] = audio
            jobs[audio.resolve()] = Job(audio, output)
    return list(jobs.values())


def is_done(output: Path) -> bool:
    """An output is only ever written whole (see batch_client.cli), so a non-empty one is finished."""
    try:
        return output.stat().st_size > 0
    except OSError:
        return False


def probe_seconds(audio: Path) -> float:
    """The duration the file's metadata declares (container, else stream), 0.0 when unknown or unreadable."""
    try:
        with av.open(str(audio), mode="r") as container:
            declared = declared_seconds(container)
            if declared is not None:
                return float(declared)
            for stream in container.streams.audio:
                if stream.duration and stream.time_base:
                    return float(stream.duration * stream.time_base)
    except Exception:  # any file at all may be handed in; a bad one is reported by the server, not here
        return 0.0
    return 0.0


def with_durations(jobs: Sequence[Job]) -> list[Job]:
    with ThreadPoolExecutor(max_workers=PROBE_THREADS) as pool:
        seconds = list(pool.map(probe_seconds, (job.audio for job in jobs)))
    return [replace(job, seconds=s) for job, s in zip(jobs, seconds, strict=True)]


@dataclass(frozen=True)
class Summary:
    done: int
    skipped: int
    failures: tuple[Failure, ...]
    audio_seconds: float  # of the files transcribed in this run
    planned_audio_seconds: float  # of all the files sent (the progress bar's total)
    wall_seconds: float

    @classmethod
    def of(cls, finished: Iterable[tuple[Job, Failure | None]], skipped: int, wall_seconds: float) -> Summary:
        results = list(finished)
        done = [job for job, failure in results if failure is None]
        failures = tuple(failure for _, failure in results if failure is not None)
        audio_seconds = sum(job.seconds for job in done)
        planned = sum(job.seconds for job, _ in results)
        return cls(len(done), skipped, failures, audio_seconds, planned, wall_seconds)

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def audio_seconds_per_second(self) -> float:
        return self.audio_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def line(self) -> str:
        return (
            f"done {self.done}, failed {self.failed}, skipped {self.skipped}: "
            f"{self.audio_seconds:.1f} s of audio in {self.wall_seconds:.1f} s "
            f"({self.audio_seconds_per_second:.1f} audio-s/s)"
        )

    def as_json(self) -> dict[str, object]:
        return {
            "done": self.done,
            "failed": self.failed,
            "skipped": self.skipped,
            "audio_seconds": round(self.audio_seconds, 3),
            "planned_audio_seconds": round(self.planned_audio_seconds, 3),
            "wall_seconds": round(self.wall_seconds, 3),
            "audio_seconds_per_second": round(self.audio_seconds_per_second, 3),
            "failures": [{"path": str(f.path), "reason": f.reason} for f in self.failures],
        }
