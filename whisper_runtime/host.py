"""The host a model runs on, as far as ONNX Runtime's kernels care: the CPU, its vector extensions, the runtime."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import onnxruntime as ort

# The vector extensions ONNX Runtime's kernels choose between (int8: VNNI on AVX512 or AVX, AMX tiles).
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


@dataclass(frozen=True)
class Host:
    cpu: str
    cpus: int
    flags: tuple[str, ...]  # those of CPU_FLAGS the CPU has
    onnxruntime: str
    providers: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "flags": list(self.flags), "providers": list(self.providers)}


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity: a container's cpuset), not the machine's count."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def this_host(cpuinfo: Path = Path("/proc/cpuinfo")) -> Host:
    """The CPU model (from `cpuinfo`), usable CPUs, vector extensions, ONNX Runtime's version and providers."""
    cpu, flags = "unknown CPU", set[str]()
    try:
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                cpu = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    return Host(
        cpu=cpu,
        cpus=usable_cpus(),
        flags=tuple(flag for flag in CPU_FLAGS if flag in flags),
        onnxruntime=ort.__version__,
        providers=tuple(ort.get_available_providers()),
    )
