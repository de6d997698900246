"""Run a command as on an AVX2-only CPU: every process it starts sees CPUID without AVX512, AVX-VNNI or AMX.

`python -m perf.avx2_host COMMAND ...`, e.g. `python -m perf.avx2_host python -m perf.bench ...` (`make bench-avx2`).
The kernels ONNX Runtime, CTranslate2 and numpy choose then are those of an AVX2-only host; the speed of each
kernel stays this CPU's, so a result is an AVX2 *kernel* measurement on this microarchitecture, not a stand-in for
another CPU's timings. Needs Linux CPUID faulting (the `cpuid_fault` CPU flag: Intel since Ivy Bridge, recent AMD)
and a C compiler; the preloaded library (perf/avx2_host.c) is built once into .run/avx2-host/. Every result made
under it records the mask (whisper_runtime.host: `cpuid_mask`, `hidden`).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from whisper_runtime.host import CPUID_MASK_VARIABLE, CPUINFO, read_cpuinfo

SOURCE = Path(__file__).with_suffix(".c")
BUILD_DIR = SOURCE.parents[1] / ".run" / "avx2-host"
# glibc chose its string functions before the library loads: its own tunable keeps it off AVX512 as well.
GLIBC_TUNABLES = "glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD"


class CpuidFaultingUnavailableError(RuntimeError):
    """This CPU or kernel cannot make CPUID trap, so nothing could be masked."""


def built_library(build_dir: Path = BUILD_DIR) -> Path:
    """The preloaded library, compiled from SOURCE unless this source's build is there already."""
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    library = build_dir / f"libavx2host-{digest}.so"
    if not library.exists():
        build_dir.mkdir(parents=True, exist_ok=True)
        partial = library.with_suffix(".partial")
        cc = os.environ.get("CC", "cc")
        subprocess.run([cc, "-O2", "-Wall", "-shared", "-fPIC", "-o", str(partial), str(SOURCE), "-ldl"], check=True)
        partial.rename(library)
    return library


def masked_environment(library: Path, cpuinfo: Path = CPUINFO) -> dict[str, str]:
    """This process's environment with the library preloaded and the mask named for whisper_runtime.host."""
    _, flags = read_cpuinfo(cpuinfo)
    if "cpuid_fault" not in flags:
        raise CpuidFaultingUnavailableError(f"{cpuinfo} has no cpuid_fault flag: CPUID cannot be masked on this host")
    environment = dict(os.environ)
    preload = environment.get("LD_PRELOAD")
    environment["LD_PRELOAD"] = f"{library.resolve()} {preload}" if preload else str(library.resolve())
    environment["GLIBC_TUNABLES"] = ":".join(filter(None, [environment.get("GLIBC_TUNABLES"), GLIBC_TUNABLES]))
    environment[CPUID_MASK_VARIABLE] = "avx2"
    return environment


def main(argv: list[str] | None = None) -> int:
    command = sys.argv[1:] if argv is None else argv
    if not command:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        environment = masked_environment(built_library())
    except CpuidFaultingUnavailableError as error:
        print(f"avx2_host: {error}", file=sys.stderr)
        return 70
    return subprocess.run(command, env=environment).returncode


if __name__ == "__main__":
    sys.exit(main())
