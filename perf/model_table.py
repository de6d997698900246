"""`python -m perf.model_table RESULT.json...`: the model table (docs/performance.md, README) from benchmark
results of one model each (`make bench-models` writes them): per model and precision, the error rate on
each dataset, throughput at concurrency 1 and 4, latency, Triton's memory, and faster-whisper's best
configuration on the same weights in the same run."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

PEER_PREFIX = "faster-whisper"
COLUMNS = (
    "model", "precision", "datasets (error rate %)", "audio-s/s c=1", "audio-s/s c=4", "p50 / p95 ms c=4",
    "Triton RSS MB", "faster-whisper best audio-s/s (configuration)", "gateway c=4 / best", "faster-whisper error %",
)  # fmt: skip


def _index(results: Sequence[dict]) -> dict[tuple[str, str, str, int], dict]:
    return {(r["target"], r["precision"], r["dataset"], r["concurrency"]): r for r in results}


def _throughput(results: Sequence[dict], target: str, precision: str, concurrency: int) -> float:
    """Audio seconds per second over every dataset of the run (total audio / total wall time)."""
    rows = [r for r in results if (r["target"], r["precision"], r["concurrency"]) == (target, precision, concurrency)]
    return sum(r["audio_seconds"] for r in rows) / sum(r["wall_s"] for r in rows) if rows else float("nan")


def _best_peer(results: Sequence[dict], precision: str) -> tuple[float, str]:
    """faster-whisper's fastest (target, concurrency) in `precision`, over every dataset."""
    keys = {(r["target"], r["concurrency"]) for r in results if r["target"].startswith(PEER_PREFIX)}
    scored = [
        (_throughput(results, target, precision, level), f"{target.removeprefix(PEER_PREFIX + '-')} c={level}")
        for target, level in keys
        if any(r["precision"] == precision and (r["target"], r["concurrency"]) == (target, level) for r in results)
    ]
    return max(scored) if scored else (float("nan"), "not measured")


def rows(document: dict) -> list[list[str]]:
    """The table's rows for one benchmark result (one model, each precision it measured)."""
    results = document["results"]
    model = document["configuration"].get("model", "whisper-tiny.en")
    indexed = _index(results)
    datasets = sorted({r["dataset"] for r in results})
    table = []
    for precision in document["configuration"]["precisions"]:
        errors = ", ".join(
            f"{dataset} {indexed[('gateway', precision, dataset, 1)]['wer']:.1f}"
            for dataset in datasets
            if ("gateway", precision, dataset, 1) in indexed
        )
        c4 = [r for r in results if (r["target"], r["precision"], r["concurrency"]) == ("gateway", precision, 4)]
        latency = f"{max(r['latency_ms']['p50'] for r in c4):.0f} / {max(r['latency_ms']['p95'] for r in c4):.0f}"
        rss = max(
            r["peak_rss_mb"].get("triton", 0.0)
            for r in results
            if (r["target"], r["precision"]) == ("gateway", precision)
        )
        best, configuration = _best_peer(results, precision)
        peer_errors = ", ".join(
            f"{dataset} {r['wer']:.1f}"
            for dataset in datasets
            for key, r in indexed.items()
            if key == (f"{PEER_PREFIX}-sequential", precision, dataset, 1)
        )
        gateway_c4 = _throughput(results, "gateway", precision, 4)
        table.append(
            [
                model,
                precision,
                errors,
                f"{_throughput(results, 'gateway', precision, 1):.1f}",
                f"{gateway_c4:.1f}",
                latency,
                f"{rss:.0f}",
                f"{best:.1f} ({configuration})",
                f"{gateway_c4 / best:.2f}",
                peer_errors,
            ]
        )
    return table


def markdown(documents: Sequence[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for document in documents for row in rows(document)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perf.model_table", description=__doc__)
    parser.add_argument("results", nargs="+", type=Path, help="perf.bench JSON files, one model each")
    parser.add_argument("--out", type=Path, help="write the table here (default: print it)")
    args = parser.parse_args(argv)
    table = markdown([json.loads(path.read_text()) for path in args.results])
    if args.out:
        args.out.write_text(table)
    else:
        print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
