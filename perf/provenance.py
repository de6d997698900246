"""When and by which command a result file was made (the same two fields in every perf/ result), and on which CPU."""

from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path

CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni")  # the vector extensions ONNX Runtime's int8 kernels use


def provenance(module: str, argv: list[str] | None) -> dict[str, str]:
    """`created` (UTC, ISO 8601) and `command` (`python -m module ARGS`, arguments as given or from sys.argv)."""
    arguments = sys.argv[1:] if argv is None else argv
    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": shlex.join(["python", "-m", module, *arguments]),
    }


def host() -> dict[str, object]:
    """The CPU model, core count and the vector extensions that matter to ONNX Runtime's int8 kernels."""
    cpu, flags = "unknown CPU", set[str]()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                cpu = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    return {"cpu": cpu, "cpus": os.cpu_count(), "flags": [flag for flag in CPU_FLAGS if flag in flags]}


def describe_host(machine: dict[str, object]) -> str:
    """One line for a report: `host()`'s CPU, core count and flags."""
    flags = ", ".join(machine["flags"]) or f"none of {', '.join(CPU_FLAGS)}"  # type: ignore[arg-type]
    return f"{machine['cpu']}, {machine['cpus']} CPUs ({flags})"
