"""Two real Tritons behind one gateway, one killed (SIGKILL) and started again on its ports under load: no
request fails, both endpoints serve before the kill, and the restarted one serves again (the failover
benchmark, perf.scaleout, shortened)."""

from __future__ import annotations

from pathlib import Path

from perf.scaleout import failover


def test_killing_one_of_two_tritons_fails_no_request_and_its_restart_is_served_again(tmp_path: Path) -> None:
    report = failover(tmp_path, clients=2, duration_s=22, kill_at_s=7, restart_at_s=11)
    assert report["failed"] == 0, report["failures"]
    assert report["wrong_transcripts"] == 0, report["wrong"]
    assert report["requests_by_phase"]["while_down"] > 0, "the run must go on while one Triton is down"
    assert all(calls > 0 for calls in report["calls_before_kill"].values()), report["calls_before_kill"]
    assert report["restart"]["error"] is None
    assert report["restart"]["served_again_at_s"] is not None, report["restart"]
    assert report["calls_whole_run"][report["killed"]] > report["calls_before_kill"][report["killed"]]
