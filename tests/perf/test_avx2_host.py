"""perf.avx2_host: the processes of a command see an AVX2-only CPU's CPUID, and still run the real model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from perf.avx2_host import CpuidFaultingUnavailableError, built_library, masked_environment
from tests.audio_files import JFK
from whisper_runtime.host import read_cpuinfo

CPU_FLAGS = read_cpuinfo()[1]
CAN_MASK = "cpuid_fault" in CPU_FLAGS
needs_faulting = pytest.mark.skipif(not CAN_MASK, reason="this CPU or kernel has no CPUID faulting (cpuid_fault)")

# What the child reports: numpy's CPUID-based dispatch, and whisper_runtime.host's record of the host.
REPORT_CPUID = """
import json
from numpy._core._multiarray_umath import __cpu_features__ as cpuid
from whisper_runtime.host import this_host
print(json.dumps({"cpuid": {k: cpuid[k] for k in ("AVX2", "AVX512F", "AVX512VNNI")}, "host": this_host().as_dict()}))
"""

TRANSCRIBE_JFK = f"""
from whisper_runtime.audio import decode_audio
from whisper_runtime.engine import EngineOptions, WhisperEngine
from whisper_runtime.model_files import ModelFiles
from whisper_runtime.repository import DEFAULT_MODEL, DEFAULT_REPOSITORY
engine = WhisperEngine.load(ModelFiles.load(DEFAULT_REPOSITORY, DEFAULT_MODEL), EngineOptions(precision="int8"))
print(" ".join(segment.text for segment in engine.transcribe(decode_audio({str(JFK)!r}))))
"""


def _run_masked(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = masked_environment(built_library(tmp_path / "build"))
    return subprocess.run([sys.executable, *arguments], env=environment, capture_output=True, text=True, timeout=120)


@needs_faulting
def test_a_masked_process_sees_avx2_without_avx512_or_vnni_and_says_so(tmp_path: Path) -> None:
    masked = _run_masked(tmp_path, "-c", REPORT_CPUID)
    assert masked.returncode == 0, masked.stderr
    seen = json.loads(masked.stdout)
    assert seen["cpuid"] == {"AVX2": True, "AVX512F": False, "AVX512VNNI": False}
    host, has_avx512 = seen["host"], "avx512f" in CPU_FLAGS
    assert host["flags"] == ["avx2"] and ("avx512f" in host["hidden"]) == has_avx512
    assert host["cpuid_mask"] == ("avx2" if has_avx512 else None)


@needs_faulting
def test_a_masked_process_runs_the_int8_model_and_its_own_crash_handler_still_gets_real_faults(
    tmp_path: Path,
) -> None:
    transcribed = _run_masked(tmp_path, "-c", TRANSCRIBE_JFK)
    assert transcribed.returncode == 0, transcribed.stderr
    assert "ask not what your country can do for you" in transcribed.stdout.lower()
    crashed = _run_masked(tmp_path, "-X", "faulthandler", "-c", "import ctypes; ctypes.string_at(0)")
    assert crashed.returncode == -11 and "Fatal Python error: Segmentation fault" in crashed.stderr


def test_a_host_without_cpuid_faulting_is_refused_rather_than_measured_unmasked(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("flags\t\t: fpu sse2 avx avx2 fma avx512f\n")
    with pytest.raises(CpuidFaultingUnavailableError, match="no cpuid_fault"):
        masked_environment(tmp_path / "unused.so", cpuinfo)
