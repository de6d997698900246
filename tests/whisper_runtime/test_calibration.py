"""The per-host precision: measured on the real export, chosen by speed, recorded, and measured again only when
the host or the export changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import BASE
from whisper_runtime import calibration
from whisper_runtime.calibration import calibrated_precisions, choose_precision
from whisper_runtime.host import CPUID_MASK_VARIABLE, this_host
from whisper_runtime.repository import DEFAULT_MODEL


def test_int8_is_chosen_only_where_it_is_clearly_faster() -> None:
    assert choose_precision({"int8": 0.4, "fp32": 0.8}) == "int8"  # a VNNI host
    assert choose_precision({"int8": 0.9, "fp32": 0.8}) == "fp32"  # a host where fp32 wins
    assert choose_precision({"int8": 0.79, "fp32": 0.8}) == "fp32"  # within the margin: fp32's accuracy wins


def test_the_host_names_its_cpu_flags(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("model name\t: AMD EPYC 7B13\nflags\t\t: fpu sse2 avx avx2 fma\n")
    host = this_host(cpuinfo)
    assert host.cpu == "AMD EPYC 7B13" and host.flags == ("avx2",)
    assert "CPUExecutionProvider" in host.providers and host.cpus >= 1


def test_a_host_whose_cpuid_is_masked_names_the_mask_and_what_it_hides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("model name\t: Intel Xeon\nflags\t\t: avx avx2 avx512f avx512_vnni amx_int8\n")
    unmasked = this_host(cpuinfo)
    monkeypatch.setenv(CPUID_MASK_VARIABLE, "avx2")
    masked = this_host(cpuinfo)
    assert masked.flags == ("avx2",) and masked.cpuid_mask == "avx2"
    assert masked.hidden == ("avx512f", "avx512_vnni", "amx_int8") and masked.as_dict() != unmasked.as_dict()
    cpuinfo.write_text("model name\t: AMD EPYC 7B13\nflags\t\t: avx avx2\n")  # nothing to hide: not masked
    assert this_host(cpuinfo).cpuid_mask is None and this_host(cpuinfo).hidden == ()


def test_a_calibration_is_measured_recorded_and_reused_until_the_host_or_export_changes(
    repository: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "calibration.json"
    monkeypatch.setattr(calibration, "BUDGET_S", 0.0)  # past its budget at once: a warm-up and a timed run each
    (measured,) = calibrated_precisions(repository, [DEFAULT_MODEL], record).values()
    assert set(measured.seconds) == {"int8", "fp32"} and all(s > 0 for s in measured.seconds.values())
    assert measured.precision == choose_precision(measured.seconds)
    document = json.loads(record.read_text())
    assert document["host"] == this_host().as_dict() and document["models"][DEFAULT_MODEL]["precision"]

    def measure_again(*_: object) -> None:
        raise AssertionError("measured again on the same host and export")

    monkeypatch.setattr(calibration, "calibrate", measure_again)
    assert calibrated_precisions(repository, [DEFAULT_MODEL], record)[DEFAULT_MODEL] == measured

    changed = [
        {**document, "host": {**document["host"], "cpu": "another CPU"}},
        {**document, "models": {DEFAULT_MODEL: {**document["models"][DEFAULT_MODEL], "export": "another export"}}},
        {**document, "models": {DEFAULT_MODEL: {"export": document["models"][DEFAULT_MODEL]["export"]}}},
    ]
    for other in changed:
        record.write_text(json.dumps(other))
        with pytest.raises(AssertionError, match="measured again"):
            calibrated_precisions(repository, [DEFAULT_MODEL], record)


def test_the_models_measured_share_one_budget_and_each_precision_is_still_timed_once(
    repository: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, budgets = [1000.0], []  # the budget's clock moves only as the first model's measuring says
    real_calibrate = calibration.calibrate

    def calibrate_within(files: object, export: str, budget_s: float) -> calibration.Calibration:
        budgets.append(budget_s)
        measured = real_calibrate(files, export, 0.0)  # type: ignore[arg-type]  # past its budget at once
        clock[0] += 3.0
        return measured

    monkeypatch.setattr(calibration, "calibrate", calibrate_within)
    monkeypatch.setattr(calibration.time, "monotonic", lambda: clock[0])
    measured = calibrated_precisions(repository, [DEFAULT_MODEL, BASE], tmp_path / "calibration.json")
    assert list(measured) == [DEFAULT_MODEL, BASE]
    assert all(set(c.seconds) == {"int8", "fp32"} and all(s > 0 for s in c.seconds.values()) for c in measured.values())
    # an equal part of the whole, then all the first left: the first took 3 s of its half
    assert budgets == [calibration.BUDGET_S / 2, calibration.BUDGET_S - 3.0]
