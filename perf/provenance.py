"""When and by which command a result file was made (the same two fields in every perf/ result), and on which CPU."""

from __future__ import annotations

import shlex
import sys
import time

from whisper_runtime.host import CPU_FLAGS, this_host


def provenance(module: str, argv: list[str] | None) -> dict[str, str]:
    """`created` (UTC, ISO 8601) and `command` (`python -m module ARGS`, arguments as given or from sys.argv)."""
    arguments = sys.argv[1:] if argv is None else argv
    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": shlex.join(["python", "-m", module, *arguments]),
    }


def host() -> dict[str, object]:
    """The CPU model, usable CPUs, the vector extensions that matter to ONNX Runtime's kernels, its version and
    execution providers (whisper_runtime.host, as the service's calibration records them)."""
    return this_host().as_dict()


def describe_host(machine: dict[str, object]) -> str:
    """One line for a report: `host()`'s CPU, core count, flags (and what a CPUID mask hid) and ONNX Runtime."""
    flags = ", ".join(machine["flags"]) or f"none of {', '.join(CPU_FLAGS)}"  # type: ignore[arg-type]
    if machine.get("cpuid_mask"):
        hidden = ", ".join(machine["hidden"])  # type: ignore[arg-type]
        flags += f"; CPUID masked to {machine['cpuid_mask']} by perf.avx2_host, hiding {hidden}"
    providers = ", ".join(machine.get("providers", []))  # type: ignore[arg-type]
    runtime = f"; ONNX Runtime {machine['onnxruntime']} ({providers})" if "onnxruntime" in machine else ""
    return f"{machine['cpu']}, {machine['cpus']} CPUs ({flags}){runtime}"
