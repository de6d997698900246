"""Every result file says when and by which command it was made."""

from __future__ import annotations

import time

from perf.provenance import describe_host, provenance


def test_the_command_is_quoted_as_a_shell_would_need_it_and_the_time_is_utc() -> None:
    made = provenance("perf.load", ["--clients", "4", "--out", "results/soak run.json"])
    assert made["command"] == "python -m perf.load --clients 4 --out 'results/soak run.json'"
    assert provenance("perf.perf_analyzer", [])["command"] == "python -m perf.perf_analyzer"
    created = time.strptime(made["created"], "%Y-%m-%dT%H:%M:%SZ")
    assert abs(time.mktime(created) - time.mktime(time.gmtime())) < 60


def test_the_host_line_names_a_cpuid_mask_and_what_it_hid() -> None:
    machine = {"cpu": "Intel Xeon", "cpus": 2, "flags": ["avx2"], "cpuid_mask": "avx2", "hidden": ["avx512f"]}
    assert describe_host(machine) == "Intel Xeon, 2 CPUs (avx2; CPUID masked to avx2 by perf.avx2_host, hiding avx512f)"
    assert describe_host({**machine, "cpuid_mask": None, "flags": []}).startswith("Intel Xeon, 2 CPUs (none of avx2")
