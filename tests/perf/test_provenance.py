"""Every result file says when and by which command it was made."""

from __future__ import annotations

import time

from perf.provenance import provenance


def test_the_command_is_quoted_as_a_shell_would_need_it_and_the_time_is_utc() -> None:
    made = provenance("perf.load", ["--clients", "4", "--out", "results/soak run.json"])
    assert made["command"] == "python -m perf.load --clients 4 --out 'results/soak run.json'"
    assert provenance("perf.perf_analyzer", [])["command"] == "python -m perf.perf_analyzer"
    created = time.strptime(made["created"], "%Y-%m-%dT%H:%M:%SZ")
    assert abs(time.mktime(created) - time.mktime(time.gmtime())) < 60
