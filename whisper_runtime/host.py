"""The host a model runs on, as far as ONNX Runtime's kernels care: the CPU, its vector extensions, the runtime."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import onnxruntime as ort

# The vector extensions ONNX Runtime's kernels choose between (int8: VNNI on AVX512 or AVX, AMX tiles).
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")
CPUINFO = Path("/proc/cpuinfo")
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")

# Set by perf/avx2_host.py for the processes whose CPUID it masks: the CPU_FLAGS each mask leaves them.
CPUID_MASK_VARIABLE = "DATTAVANI_CPUID_MASK"
CPUID_MASKS = {"avx2": ("avx2",)}


@dataclass(frozen=True)
class Host:
    cpu: str
    cpus: int
    flags: tuple[str, ...]  # those of CPU_FLAGS the process's kernels see
    onnxruntime: str
    providers: tuple[str, ...]
    cpuid_mask: str | None = None  # the CPU has more (`hidden`) but CPUID shows the process only `flags`
    hidden: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            **asdict(self),
            "flags": list(self.flags),
            "providers": list(self.providers),
            "hidden": list(self.hidden),
        }


def usable_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The CPUs this process may run on (its affinity: a container's cpuset), not the machine's count, and no more
    than a cgroup v2 CPU quota in `cpu_max` allows (a container's CPU limit, rounded up)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = cpu_max.read_text().split()[:2]
        return max(1, min(cpus, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):  # no cgroup v2 here, or "max": no quota
        return cpus


def read_cpuinfo(cpuinfo: Path = CPUINFO) -> tuple[str, frozenset[str]]:
    """The CPU model and the kernel's CPU flags (all of them) from `cpuinfo`; unknown and none if unreadable."""
    cpu, flags = "unknown CPU", frozenset[str]()
    try:
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                cpu = value.strip()
            elif key.strip() == "flags":
                flags = frozenset(value.split())
    except OSError:
        pass
    return cpu, flags


def this_host(cpuinfo: Path = CPUINFO) -> Host:
    """The CPU model (from `cpuinfo`), usable CPUs, vector extensions (as a CPUID mask leaves them), ONNX Runtime's
    version and providers."""
    cpu, flags = read_cpuinfo(cpuinfo)
    present = tuple(flag for flag in CPU_FLAGS if flag in flags)
    mask = os.environ.get(CPUID_MASK_VARIABLE)
    seen = tuple(flag for flag in present if flag in CPUID_MASKS[mask]) if mask in CPUID_MASKS else present
    return Host(
        cpu=cpu,
        cpus=usable_cpus(),
        flags=seen,
        onnxruntime=ort.__version__,
        providers=tuple(ort.get_available_providers()),
        cpuid_mask=mask if seen != present else None,
        hidden=tuple(flag for flag in present if flag not in seen),
    )
