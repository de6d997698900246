"""Measurements around a benchmark pass: peak RSS of the processes involved, Triton's batch sizes, GPU use."""

from __future__ import annotations

import re
import shutil
import subprocess  # nosec B404
import threading
import urllib.request
from collections.abc import Sequence
from types import TracebackType

import psutil


def tree_rss_mb(pid: int) -> float:
    """RSS in MB of a process and its children (Triton's python stubs are its children); 0 when gone."""
    try:
        process = psutil.Process(pid)
        rss = process.memory_info().rss + sum(child.memory_info().rss for child in process.children(recursive=True))
    except psutil.Error:
        return 0.0
    return rss / 2**20


def process_rss_mb(pid: int) -> float:
    """RSS in MB of one process alone; 0 when gone."""
    try:
        return psutil.Process(pid).memory_info().rss / 2**20
    except psutil.Error:
        return 0.0


class PeakRss:
    """Samples the RSS of named process trees (and of `own` processes alone, without their children)
    every `interval_s` while in use; keeps the peaks (MB)."""

    def __init__(self, trees: dict[str, int], own: dict[str, int] | None = None, interval_s: float = 0.1) -> None:
        self._readers = [(name, pid, tree_rss_mb) for name, pid in trees.items()]
        self._readers += [(name, pid, process_rss_mb) for name, pid in (own or {}).items()]
        self._interval_s = interval_s
        self.peak_mb: dict[str, float] = {name: 0.0 for name, _, _ in self._readers}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            for name, pid, read in self._readers:
                self.peak_mb[name] = max(self.peak_mb[name], read(pid))
            if self._stop.wait(self._interval_s):
                return

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = {name: round(mb, 1) for name, mb in self.peak_mb.items()}


InferenceCounts = dict[str, tuple[float, float]]
_COUNT_LINE = re.compile(
    r'^(nv_inference_count|nv_inference_exec_count)\{model="([^"]+)",version="[^"]*"\} (\S+)$', re.M
)


def inference_counts(metrics_url: str) -> InferenceCounts:
    """(requests, executions) per Triton model, from Triton's metrics endpoint."""
    with urllib.request.urlopen(metrics_url, timeout=10) as response:  # noqa: S310  # nosec B310
        text = response.read().decode()
    counts: dict[str, dict[str, float]] = {}
    for metric, model, value in _COUNT_LINE.findall(text):
        counts.setdefault(model, {})[metric] = float(value)
    return {
        model: (values.get("nv_inference_count", 0.0), values.get("nv_inference_exec_count", 0.0))
        for model, values in counts.items()
    }


def average_batches(readings: Sequence[tuple[InferenceCounts, InferenceCounts]]) -> dict[str, float]:
    """Requests per execution of each model that executed between each (before, after) pair of readings."""
    totals: dict[str, list[float]] = {}
    for before, after in readings:
        for model, (requests, executions) in after.items():
            requests_before, executions_before = before.get(model, (0.0, 0.0))
            total = totals.setdefault(model, [0.0, 0.0])
            total[0] += requests - requests_before
            total[1] += executions - executions_before
    return {
        model: round(requests / executions, 2) for model, (requests, executions) in totals.items() if executions > 0
    }


NVIDIA_SMI = "nvidia-smi"


def gpu_name() -> str | None:
    """The first GPU's name from nvidia-smi; None on a machine without one."""
    if shutil.which(NVIDIA_SMI) is None:
        return None
    query = subprocess.run(  # nosec B603
        [NVIDIA_SMI, "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=10
    )
    return query.stdout.splitlines()[0].strip() if query.returncode == 0 and query.stdout.strip() else None


def parse_utilization(output: str) -> list[float]:
    """GPU utilization percentages from `nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits`
    lines (one per GPU and sample); lines that are not numbers (`[N/A]`) are skipped."""
    values = []
    for line in output.splitlines():
        try:
            values.append(float(line.strip()))
        except ValueError:
            continue
    return values


class GpuUtilization:
    """Samples GPU utilization with nvidia-smi every 200 ms while in use; `mean_pct` is None without a GPU."""

    def __init__(self) -> None:
        self.mean_pct: float | None = None
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> GpuUtilization:
        if shutil.which(NVIDIA_SMI) is not None:
            self._process = subprocess.Popen(  # nosec B603
                [NVIDIA_SMI, "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-lms", "200"],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._process is None:
            return
        self._process.terminate()
        output, _ = self._process.communicate(timeout=10)
        samples = parse_utilization(output)
        self.mean_pct = sum(samples) / len(samples) if samples else None
