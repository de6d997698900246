"""`python -m perf.perf_analyzer`: Triton's perf_analyzer against the default model (tiny.en) with real clips.

perf_analyzer comes from `tritonclient==2.51.0` (the server's version; newer wheels carry none or need a
newer glibc). It needs libb64 and libcudart, which the nvidia-pytriton wheel ships under hashed names:
they are linked under their plain names into a private library directory.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from perf.datasets import load_dataset
from perf.provenance import provenance
from triton_server.launcher import TritonInstallation, TritonSettings, triton_on_free_ports
from whisper_runtime.audio import SAMPLE_RATE, decode_audio
from whisper_runtime.repository import DEFAULT_MODEL

RESULTS = Path(__file__).resolve().parent / "results"
LIBRARIES = {"libb64.so.0d": "libb64-*.so.0d", "libcudart.so.12": "libcudart-*.so.12*"}


def library_dir(workdir: Path) -> Path:
    """A directory with perf_analyzer's shared libraries under the names it asks for."""
    found = TritonInstallation.locate().library_dir
    target = workdir / "lib"
    target.mkdir(parents=True, exist_ok=True)
    for name, pattern in LIBRARIES.items():
        (source,) = sorted(found.glob(pattern))[:1]
        link = target / name
        link.unlink(missing_ok=True)
        link.symlink_to(source)
    return target


def input_data(dataset: str, limit: int, path: Path) -> Path:
    """perf_analyzer's --input-data JSON: one entry per real clip, each with its own shape."""
    entries = []
    for clip in load_dataset(dataset)[:limit]:  # nosec B615
        pcm = decode_audio(clip.path)
        entries.append({"WAV": {"content": [round(float(x), 6) for x in pcm], "shape": [pcm.size]}})
    path.write_text(json.dumps({"data": entries}))
    return path


def mean_clip_seconds(data: Path) -> float:
    """Average audio length of the entries of an --input-data file (perf_analyzer cycles through them)."""
    entries = json.loads(data.read_text())["data"]
    return sum(entry["WAV"]["shape"][0] for entry in entries) / len(entries) / SAMPLE_RATE


def run(settings: TritonSettings, data: Path, concurrencies: str, workdir: Path, interval_ms: int) -> list[dict]:
    """perf_analyzer's rows; audio seconds per second assume the clips are sent equally often."""
    binary = shutil.which("perf_analyzer", path=str(Path(sys.executable).parent))
    if binary is None:
        raise SystemExit("perf_analyzer not found: install tritonclient[all]==2.51.0 (make deps)")
    report = workdir / "perf_analyzer.csv"
    command = [
        binary, "-m", DEFAULT_MODEL, "-i", "grpc", "-u", settings.grpc_url,
        "--input-data", str(data), "--concurrency-range", concurrencies,
        "--measurement-interval", str(interval_ms), "--stability-percentage", "50", "--max-trials", "6",
        "-f", str(report),
    ]  # fmt: skip
    env = {**os.environ, "LD_LIBRARY_PATH": f"{library_dir(workdir)}:{os.environ.get('LD_LIBRARY_PATH', '')}"}
    subprocess.run(command, env=env, check=True)
    with report.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    clip_seconds = mean_clip_seconds(data)
    rows.sort(key=lambda row: int(row["Concurrency"]))  # perf_analyzer writes them in the order it searched
    return [
        {
            "concurrency": int(row["Concurrency"]),
            "inferences_per_s": float(row["Inferences/Second"]),
            "audio_s_per_s": round(float(row["Inferences/Second"]) * clip_seconds, 1),
            "latency_ms": {q: round(int(row[f"p{q} latency"]) / 1000, 1) for q in (50, 90, 95, 99)},
            "queue_ms": round(int(row["Server Queue"]) / 1000, 1),
            "compute_ms": round(int(row["Server Compute Infer"]) / 1000, 1),
        }
        for row in rows
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perf.perf_analyzer", description=__doc__)
    parser.add_argument("--dataset", default="librispeech")
    parser.add_argument("--limit", type=int, default=6, help="clips in the input data")
    parser.add_argument("--concurrency-range", default="1:4:1", help="perf_analyzer's start:end:step")
    parser.add_argument("--measurement-interval-ms", type=int, default=8000)
    parser.add_argument("--out", type=Path, default=RESULTS / "perf_analyzer.json")
    args = parser.parse_args(argv)
    workdir = Path(".run") / "perf_analyzer"
    workdir.mkdir(parents=True, exist_ok=True)
    data = input_data(args.dataset, args.limit, workdir / "input.json")
    with triton_on_free_ports(workdir, models=(DEFAULT_MODEL,)) as triton:
        rows = run(triton.settings, data, args.concurrency_range, workdir, args.measurement_interval_ms)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                **provenance("perf.perf_analyzer", argv),
                "model": DEFAULT_MODEL,
                "dataset": args.dataset,
                "clips": args.limit,
                "profile": triton.settings.serving_profile,
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )
    for row in rows:
        print(
            f"concurrency {row['concurrency']}: {row['inferences_per_s']:.2f} infer/s "
            f"({row['audio_s_per_s']} audio-s/s), "
            f"p50 {row['latency_ms'][50]} ms, p95 {row['latency_ms'][95]} ms, queue {row['queue_ms']} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
