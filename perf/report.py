"""Markdown report and PNG plots from a benchmark result document."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

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


def _batches(result: Result) -> str:
    return ", ".join(f"{model} {size:g}" for model, size in (result["average_batch"] or {}).items()) or "-"


def write_report(document: dict[str, Any], path: Path) -> None:
    by_dataset: dict[str, list[Result]] = defaultdict(list)
    for result in document["results"]:
        by_dataset[result["dataset"]].append(result)
    machine, configuration = document["machine"], document["configuration"]
    lines = [
        "# Benchmark report",
        "",
        f"Made {document['created']} by `{document['command']}` on {machine['cpus']} CPUs "
        f"({machine['platform']}), {machine['gpu'] or 'no GPU'}. Triton profile `{configuration['profile']}`; "
        f"runtime {configuration['runtime_workers']} workers; {configuration['threads']} threads for in-process "
        f"peers; wall time = median of {configuration['repeats']} interleaved repeats.",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    for dataset, results in by_dataset.items():
        lines += [
            f"## {dataset} ({results[0]['files']} files, {results[0]['audio_seconds']:.0f} s of audio)",
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
    path.write_text("\n".join(lines) + "\n")
