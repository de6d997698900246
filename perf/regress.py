"""`python -m perf.regress RESULT BASELINE`: compare a benchmark result with a committed baseline.

Accuracy (WER, and exact transcripts), throughput as a ratio to
the in-run reference target, and peak memory, each under perf/tolerances.toml. Exits 1 with a
readable report when anything regressed, 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_TOLERANCES = Path(__file__).resolve().parent / "tolerances.toml"
Key = tuple[str, str, str, int]  # dataset, target, precision, concurrency


@dataclass(frozen=True)
class Tolerances:
    reference_target: str
    max_wer_increase_points: float
    exact_transcripts: bool
    max_throughput_drop: float
    max_memory_growth: float

    @classmethod
    def load(cls, path: Path = DEFAULT_TOLERANCES) -> Tolerances:
        return cls(**tomllib.loads(path.read_text()))


def _index(document: dict[str, Any]) -> dict[Key, dict[str, Any]]:
    return {(r["dataset"], r["target"], r["precision"], r["concurrency"]): r for r in document["results"]}


def _reference_throughput(index: dict[Key, dict[str, Any]], dataset: str, reference: str) -> float | None:
    values = [r["audio_s_per_s"] for (d, t, _, _), r in index.items() if d == dataset and t == reference]
    return max(values) if values else None


def compare(result: dict[str, Any], baseline: dict[str, Any], tolerances: Tolerances) -> list[str]:
    """Every regression of `result` against `baseline`, as a sentence; empty when none."""
    problems: list[str] = []
    current, expected = _index(result), _index(baseline)
    missing = sorted(set(expected) - set(current))
    problems += [f"{'/'.join(map(str, key))}: in the baseline but not measured" for key in missing]
    for key in sorted(set(current) & set(expected)):
        now, then = current[key], expected[key]
        name = "/".join(map(str, key))
        allowed = tolerances.max_wer_increase_points
        if now["wer"] - then["wer"] > allowed:
            problems.append(f"{name}: WER {now['wer']:.2f}% vs baseline {then['wer']:.2f}% (allowed +{allowed:g})")
        if tolerances.exact_transcripts:
            changed = [clip for clip, text in then["transcripts"].items() if now["transcripts"].get(clip) != text]
            if changed:
                problems.append(f"{name}: transcripts changed for {', '.join(changed)}")
        dataset, target = key[0], key[1]
        reference_now = _reference_throughput(current, dataset, tolerances.reference_target)
        reference_then = _reference_throughput(expected, dataset, tolerances.reference_target)
        if target != tolerances.reference_target and reference_now and reference_then:
            ratio_now = now["audio_s_per_s"] / reference_now
            ratio_then = then["audio_s_per_s"] / reference_then
            if ratio_now < ratio_then * (1 - tolerances.max_throughput_drop):
                problems.append(
                    f"{name}: throughput {ratio_now:.2f}x of {tolerances.reference_target} "
                    f"vs baseline {ratio_then:.2f}x (allowed drop {tolerances.max_throughput_drop:.0%})"
                )
        for process, peak in now["peak_rss_mb"].items():
            before = then["peak_rss_mb"].get(process)
            if before and peak > before * (1 + tolerances.max_memory_growth):
                problems.append(f"{name}: {process} peak RSS {peak:.0f} MB vs baseline {before:.0f} MB")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perf.regress", description=__doc__)
    parser.add_argument("result", type=Path)
    parser.add_argument("baseline", type=Path)
    parser.add_argument("--tolerances", type=Path, default=DEFAULT_TOLERANCES)
    args = parser.parse_args(argv)
    problems = compare(
        json.loads(args.result.read_text()), json.loads(args.baseline.read_text()), Tolerances.load(args.tolerances)
    )
    if problems:
        print(f"REGRESSION: {len(problems)} problem(s) against {args.baseline}:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(f"no regression against {args.baseline}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
