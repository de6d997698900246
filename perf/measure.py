"""Measurements around a benchmark pass: peak RSS of the processes involved, Triton's batch sizes."""

from __future__ import annotations

import re
import threading
import urllib.request
from types import TracebackType

import psutil

from whisper_runtime.repository import DECODER_MODEL


def tree_rss_mb(pid: int) -> float:
    """RSS in MB of a process and its children (Triton's python stubs are its children); 0 when gone."""
    try:
        process = psutil.Process(pid)
        rss = process.memory_info().rss + sum(child.memory_info().rss for child in process.children(recursive=True))
    except psutil.Error:
        return 0.0
    return rss / 2**20


class PeakRss:
    """Samples the RSS of named process trees every `interval_s` while in use; keeps the peaks (MB)."""

    def __init__(self, pids: dict[str, int], interval_s: float = 0.1) -> None:
        self._pids = pids
        self._interval_s = interval_s
        self.peak_mb: dict[str, float] = dict.fromkeys(pids, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            for name, pid in self._pids.items():
                self.peak_mb[name] = max(self.peak_mb[name], tree_rss_mb(pid))
            if self._stop.wait(self._interval_s):
                return

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = {name: round(mb, 1) for name, mb in self.peak_mb.items()}


def decoder_counts(metrics_url: str) -> tuple[float, float]:
    """(requests, executions) of the batched decoder model, from Triton's metrics endpoint."""
    with urllib.request.urlopen(metrics_url, timeout=10) as response:  # noqa: S310  # nosec B310
        text = response.read().decode()

    def value(metric: str) -> float:
        match = re.search(rf'^{metric}{{model="{DECODER_MODEL}",version="[^"]*"}} (\S+)$', text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    return value("nv_inference_count"), value("nv_inference_exec_count")
