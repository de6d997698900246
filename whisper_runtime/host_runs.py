"""Model runs in progress on this host, across every process that runs models on it, and the CPU the host spent
of late: a run may use more threads (burst) only where the cores it would take are idle, since more threads than
free cores only slow each other down.

A run bursts where no other model run is in progress (a lock file that every run holds shared, and a bursting run
holds exclusively, so that runs starting meanwhile wait for it: one ONNX Runtime run, milliseconds to a few hundred)
and where processes other than its own kept no more than the cores it leaves busy over the last tenth of a second or
so (the gateway decoding audio, clients, another instance between two of its runs: a short history, so that under
a steady load a gap between two runs does not look idle). The kernel releases a lock when its run ends or its
process dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

from whisper_runtime.host import usable_cpus

# A tmpfs every process of the host (or container) sees. Another user holding the lock there can only keep runs at
# their base thread count, or make them wait for its own runs.
SHARED_MEMORY = Path("/dev/shm")  # noqa: S108  # nosec B108
DEFAULT_LOCK = (SHARED_MEMORY if SHARED_MEMORY.is_dir() else Path(tempfile.gettempdir())) / "dattavani-model-runs.lock"
CGROUP_CPU_STAT = Path("/sys/fs/cgroup/cpu.stat")
PROC_STAT = Path("/proc/stat")
WINDOW_S = 0.1  # the least span of the CPU history a burst decision reads
IDLE_SLACK_CORES = 0.25  # what others may use of the cores a burst takes, in all


def busy_seconds(cgroup_stat: Path = CGROUP_CPU_STAT, proc_stat: Path = PROC_STAT) -> float:
    """CPU seconds spent so far: by this container's cgroup (cgroup v2's cpu.stat), else by the whole host (steal
    included: the hypervisor's other guests took it)."""
    try:
        for line in cgroup_stat.read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) / 1e6
    except OSError:
        pass
    jiffies = [int(n) for n in proc_stat.read_text().split()[1:9]]  # user nice system idle iowait irq softirq steal
    return (sum(jiffies) - jiffies[3] - jiffies[4]) / os.sysconf("SC_CLK_TCK")


class OthersCpu:
    """The cores that processes other than this one kept busy over about the last `window_s`: `sample` every half
    window (`start` runs a daemon thread that does), and the estimate spans the three samples last taken."""

    def __init__(
        self,
        busy: Callable[[], float] = busy_seconds,
        own: Callable[[], float] = time.process_time,
        clock: Callable[[], float] = time.monotonic,
        window_s: float = WINDOW_S,
    ) -> None:
        self._busy, self._own, self._clock, self.window_s = busy, own, clock, window_s
        self._samples: deque[tuple[float, float, float]] = deque(maxlen=3)
        self.cores = 0.0

    def sample(self) -> None:
        self._samples.append((self._clock(), self._busy(), self._own()))
        (first, busy, own), (last, busy_now, own_now) = self._samples[0], self._samples[-1]
        if last > first:
            self.cores = max(0.0, (busy_now - busy - (own_now - own)) / (last - first))

    def start(self) -> None:
        """Sample every half window from now on, in a daemon thread."""

        def sample_forever() -> None:
            while True:
                self.sample()
                time.sleep(self.window_s / 2)

        threading.Thread(target=sample_forever, name="others-cpu", daemon=True).start()


class HostRuns:
    """The runs that share the lock file `path`, on a host of `cores` usable cores."""

    def __init__(self, path: Path, cores: int, others: OthersCpu) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path, self._cores, self._others = path, cores, others
        self._threads = threading.local()  # a descriptor per thread: flock's state belongs to an open file

    @contextlib.contextmanager
    def run(self, burst_threads: int) -> Iterator[bool]:
        """Hold the block as a run; yields whether it may use `burst_threads` (True: others wait until it ends)."""
        descriptor = self._descriptor()
        idle = self._others.cores <= self._cores - burst_threads + IDLE_SLACK_CORES
        try:
            if not idle:
                raise BlockingIOError
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            bursts = True
        except BlockingIOError:
            fcntl.flock(descriptor, fcntl.LOCK_SH)  # waits only while a bursting run holds the host
            bursts = False
        try:
            yield bursts
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)

    def _descriptor(self) -> int:
        descriptor: int | None = getattr(self._threads, "descriptor", None)
        if descriptor is None:
            descriptor = os.open(self._path, os.O_RDONLY | os.O_CREAT, 0o644)  # flock needs no write access
            self._threads.descriptor = descriptor
        return descriptor


@functools.cache
def host_runs(path: Path) -> HostRuns:
    """The runs sharing `path` on this host's usable cores, one object per process (with its CPU sampler)."""
    others = OthersCpu()
    others.start()
    return HostRuns(path, usable_cpus(), others)
