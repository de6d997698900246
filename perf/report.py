"""Markdown report and PNG plots from a benchmark result document, with the summaries of the
perf_analyzer, load, soak and connection runs found beside it.

`python -m perf.report [perf/results/bench.json]` rewrites the report without measuring anything.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from perf.provenance import describe_host

Result = dict[str, Any]


def _label(result: Result) -> str:
    return f"{result['target']} ({result['precision']})"


def _best(results: list[Result], prefix: str, precision: str | None = None) -> Result | None:
    candidates = [
        r for r in results if r["target"].startswith(prefix) and (precision is None or r["precision"] == precision)
    ]
    return max(candidates, key=lambda r: r["audio_s_per_s"], default=None)


def ratios(results: list[Result], concurrency: int = 4) -> dict[str, float]:
    """Headline ratios for one dataset: the service at `concurrency`, per precision, against its peers."""
    out: dict[str, float] = {}
    fw_int8 = _best(results, "faster-whisper", "int8")
    for service in (r for r in results if r["target"] == "gateway" and r["concurrency"] == concurrency):
        precision = service["precision"]
        runtime = _best(results, "runtime", precision)
        if fw_int8:
            out[f"gateway {precision} c={concurrency} / best faster-whisper int8 (throughput)"] = round(
                service["audio_s_per_s"] / fw_int8["audio_s_per_s"], 2
            )
        if runtime:
            out[f"gateway {precision} c={concurrency} / runtime {precision} (throughput)"] = round(
                service["audio_s_per_s"] / runtime["audio_s_per_s"], 2
            )
    return out


def same_words(results: list[Result]) -> list[str]:
    """Per precision: how many clips every gateway and triton pass transcribed exactly as the runtime did."""
    lines = []
    for runtime in (r for r in results if r["target"] == "runtime"):
        for other in (
            r for r in results if r["target"] in ("gateway", "triton") and r["precision"] == runtime["precision"]
        ):
            same = sum(other["transcripts"][clip] == text for clip, text in runtime["transcripts"].items())
            total = len(runtime["transcripts"])
            name = f"{other['target']} {other['precision']} c={other['concurrency']}"
            lines.append(f"{name}: {same}/{total} transcripts identical to the runtime's")
    return lines


def _plots(dataset: str, results: list[Result], folder: Path) -> list[str]:
    names = []
    by_target: dict[str, list[Result]] = defaultdict(list)
    for result in results:
        by_target[_label(result)].append(result)

    figure, axis = plt.subplots(figsize=(7, 4))
    for label, series in by_target.items():
        series = sorted(series, key=lambda r: r["concurrency"])
        axis.plot([r["concurrency"] for r in series], [r["audio_s_per_s"] for r in series], marker="o", label=label)
    axis.set(xlabel="concurrency", ylabel="audio seconds per second", title=f"Throughput ({dataset})")
    axis.legend(fontsize=7)
    names.append(f"{dataset}-throughput.png")
    figure.tight_layout()
    figure.savefig(folder / names[-1], dpi=100)
    plt.close(figure)

    best = [max(series, key=lambda r: r["audio_s_per_s"]) for series in by_target.values()]
    figure, (latency, wer) = plt.subplots(1, 2, figsize=(11, 4))
    labels = [f"{_label(r)} c={r['concurrency']}" for r in best]
    positions = range(len(best))
    for offset, quantile in enumerate(("p50", "p95", "p99")):
        latency.bar(
            [p + offset * 0.27 for p in positions],
            [r["latency_ms"][quantile] for r in best],
            width=0.27,
            label=quantile,
        )
    latency.set_xticks(list(positions), labels, rotation=60, ha="right", fontsize=7)
    latency.set(ylabel="ms", title=f"Latency at best throughput ({dataset})")
    latency.legend()
    wer.bar(list(positions), [r["wer"] for r in best])
    wer.set_xticks(list(positions), labels, rotation=60, ha="right", fontsize=7)
    wer.set(ylabel="WER %", title=f"WER ({dataset})")
    names.append(f"{dataset}-latency-wer.png")
    figure.tight_layout()
    figure.savefig(folder / names[-1], dpi=100)
    plt.close(figure)
    return names


def _dataset_size(result: Result) -> str:
    files, requests = result["files"], result.get("requests", result["files"])
    size = f"{files} files, {result['audio_seconds'] * files / requests:.0f} s of audio"
    return size if requests == files else f"{size}; each pass sends them {requests // files} times"


def _batches(result: Result) -> str:
    return ", ".join(f"{model} {size:g}" for model, size in (result["average_batch"] or {}).items()) or "-"


def _perf_analyzer_section(run: dict[str, Any]) -> list[str]:
    profile, model = run.get("profile", "?"), run.get("model", "whisper")  # runs before the models issue: `whisper`
    return [
        f"## perf_analyzer against `{model}` ({run['dataset']}, {run['clips']} clips, profile {profile})",
        "",
        f"Made {run.get('created', '?')} by `{run['command']}`.",
        "",
        "| concurrency | infer/s | audio-s/s | p50 ms | p95 ms | p99 ms | queue ms | compute ms |",
        "|---|---|---|---|---|---|---|---|",
        *(
            f"| {r['concurrency']} | {r['inferences_per_s']:.2f} | {r.get('audio_s_per_s', '-')} | "
            f"{r['latency_ms']['50']} | {r['latency_ms']['95']} | {r['latency_ms']['99']} | {r['queue_ms']} | "
            f"{r['compute_ms']} |"
            for r in run["rows"]
        ),
        "",
    ]


def _load_section(title: str, run: dict[str, Any]) -> list[str]:
    latency = run.get("latency_ms", {})
    lines = [
        f"## {title}",
        "",
        f"Made {run.get('created', '?')} by `{run['command']}`: {run['requests']:,} requests from {run['clients']} "
        f"clients in {run['wall_s']:,} s; {run['files_per_hour']:,} files/hour; statuses {run['statuses']}; "
        f"error rate {run['error_rate']:.3%}; latency p50 {latency.get('p50')} ms, p95 {latency.get('p95')} ms, "
        f"p99 {latency.get('p99')} ms.",
    ]
    if "rss_mb_start" in run:
        growth = ", ".join(
            f"{name} {run['rss_mb_start'][name]:.0f} -> {run['rss_mb_end'][name]:.0f} MB ({share:+.1%})"
            for name, share in run["rss_growth"].items()
        )
        lines += ["", f"RSS after {run.get('warmup_requests', 'the')} warm-up requests, then at the end: {growth}."]
        slopes = {name: value for name, value in run.get("rss_mb_per_10k_requests", {}).items() if value is not None}
        lines[-1] += (
            " Trend: " + ", ".join(f"{name} {value} MB per 10,000 requests" for name, value in slopes.items())
            if slopes
            else " No trend: too few requests to show one."
        )
    return [*lines, ""]


EXTRA_RUNS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "perf_analyzer.json": _perf_analyzer_section,
    "load.json": partial(_load_section, "Load test (`make load`)"),
    "soak.json": partial(_load_section, "Soak (`make soak`)"),
}


def _overrides(triton_config: list[str] | None) -> str:
    return f" with `{','.join(triton_config)}`" if triton_config else ""


def _host_line(machine: dict[str, Any]) -> str:
    """The host's CPU and ONNX Runtime (results before these were recorded: the core count only)."""
    return describe_host(machine) if "cpu" in machine else f"{machine['cpus']} CPUs"


def write_report(document: dict[str, Any], path: Path) -> None:
    by_dataset: dict[str, list[Result]] = defaultdict(list)
    for result in document["results"]:
        by_dataset[result["dataset"]].append(result)
    machine, configuration = document["machine"], document["configuration"]
    lines = [
        "# Benchmark report",
        "",
        f"Made {document['created']} by `{document['command']}` on {_host_line(machine)} "
        f"({machine['platform']}), {machine['gpu'] or 'no GPU'}. Triton profile `{configuration['profile']}`"
        f"{_overrides(configuration.get('triton_config'))}; "
        f"runtime {configuration['runtime_workers']} workers; {configuration['threads']} threads for in-process "
        f"peers; wall time = median of {configuration['repeats']} interleaved repeats.",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    for dataset, results in by_dataset.items():
        lines += [
            f"## {dataset} ({_dataset_size(results[0])})",
            "",
            "| target | precision | concurrency | audio-s/s | files/h | p50 ms | p95 ms | p99 ms | WER % "
            "| peak RSS MB | avg batch | GPU % |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in results:
            rss = ", ".join(f"{name} {mb:.0f}" for name, mb in r["peak_rss_mb"].items())
            lines.append(
                f"| {r['target']} | {r['precision']} | {r['concurrency']} | {r['audio_s_per_s']:.1f} | "
                f"{r['files_per_hour']:,} | {r['latency_ms']['p50']:.0f} | {r['latency_ms']['p95']:.0f} | "
                f"{r['latency_ms']['p99']:.0f} | {r['wer']:.2f} | {rss} | {_batches(r)} | "
                f"{'-' if r['gpu_utilization_pct'] is None else r['gpu_utilization_pct']} |"
            )
        headline = ratios(results)
        if headline:
            lines += ["", *(f"- {name}: **{value}**" for name, value in headline.items())]
        lines += [f"- {line}" for line in same_words(results)]
        lines += ["", *(f"![{name}]({name})" for name in _plots(dataset, results, path.parent)), ""]
    pooled = document.get("pooled_wer") or []
    if len(by_dataset) > 1 and pooled:
        lines += [
            f"## All datasets together ({', '.join(by_dataset)})",
            "",
            "| target | precision | concurrency | files | WER % |",
            "|---|---|---|---|---|",
            *(
                f"| {r['target']} | {r['precision']} | {r['concurrency']} | {r['files']} | {r['wer']:.2f} |"
                for r in pooled
            ),
            "",
        ]
    for name, section in EXTRA_RUNS.items():
        if (path.parent / name).is_file():
            lines += section(json.loads((path.parent / name).read_text()))
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perf.report", description=__doc__)
    parser.add_argument(
        "result", type=Path, nargs="?", default=Path(__file__).resolve().parent / "results" / "bench.json"
    )
    args = parser.parse_args(argv)
    write_report(json.loads(args.result.read_text()), args.result.with_suffix(".md"))
    print(f"wrote {args.result.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
