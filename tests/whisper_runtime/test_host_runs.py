"""A model run alone on an idle host may burst and holds the host until it ends; runs beside other runs (in any
process), or while other processes kept the cores busy of late, do not; a process that dies holding the lock frees
it. A model that may burst runs its burst session then and its base session otherwise, and the in-process engine
decodes the same either way."""

from __future__ import annotations

import os
import subprocess  # nosec B404
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from whisper_runtime.engine import EngineOptions, WhisperEngine
from whisper_runtime.host import usable_cpus
from whisper_runtime.host_runs import HostRuns, OthersCpu, busy_seconds
from whisper_runtime.model_files import ModelFiles
from whisper_runtime.repository import DEFAULT_MODEL, ModelLayout
from whisper_runtime.sessions import ModelSession, SessionOptions, create_session

HOLD_SHARED = """
import fcntl, os, sys, time
descriptor = os.open(sys.argv[1], os.O_RDONLY | os.O_CREAT)
fcntl.flock(descriptor, fcntl.LOCK_SH)
print("holding", flush=True)
time.sleep(60)
"""


@contextmanager
def run_in_another_process(lock: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process's model run (a shared hold of the lock) until the block ends, when it is killed."""
    process = subprocess.Popen([sys.executable, "-c", HOLD_SHARED, str(lock)], stdout=subprocess.PIPE, text=True)  # nosec B603
    try:
        assert process.stdout is not None and process.stdout.readline() == "holding\n"
        yield process
    finally:
        process.kill()
        process.wait()


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def idle_host() -> OthersCpu:
    """No CPU used outside this process, ever (never sampled)."""
    return OthersCpu(busy=lambda: 0.0, own=lambda: 0.0)


def test_a_run_alone_may_burst_and_a_run_beside_another_process_s_may_not(tmp_path: Path) -> None:
    runs = HostRuns(tmp_path / "runs.lock", 2, idle_host())
    with runs.run(2) as bursts:
        assert bursts
    with run_in_another_process(tmp_path / "runs.lock"), runs.run(2) as bursts:
        assert not bursts
    with runs.run(2) as bursts:  # the other process was killed holding the lock: the kernel released it
        assert bursts


def test_a_run_may_not_burst_where_other_processes_kept_the_cores_busy_of_late(tmp_path: Path) -> None:
    clock, busy = FakeClock(), [0.0]
    others = OthersCpu(busy=lambda: busy[0], own=lambda: 0.0, clock=clock)
    runs = HostRuns(tmp_path / "runs.lock", 2, others)
    for now, busy[0] in ((0.0, 0.0), (0.05, 0.025), (0.1, 0.05)):  # half a core busy elsewhere: not idle enough
        clock.now = now
        others.sample()
    with runs.run(2) as bursts:
        assert not bursts
    for now, busy[0] in ((0.15, 0.051), (0.2, 0.052)):  # 0.02 core over the last three samples
        clock.now = now
        others.sample()
    with runs.run(2) as bursts:
        assert bursts
    with runs.run(3) as bursts:  # three threads need more idle cores than a 2-core host has
        assert not bursts


def test_the_cpu_of_others_is_the_host_s_less_this_process_s_over_the_last_three_samples() -> None:
    clock, busy, own = FakeClock(), [10.0], [1.0]
    others = OthersCpu(busy=lambda: busy[0], own=lambda: own[0], clock=clock)
    others.sample()
    assert others.cores == 0.0
    clock.now, busy[0], own[0] = 0.5, 10.9, 1.4  # 0.9 s of CPU in 0.5 s, 0.4 of them this process's
    others.sample()
    assert others.cores == pytest.approx(1.0)
    clock.now, busy[0], own[0] = 1.0, 11.4, 1.4
    others.sample()
    assert others.cores == pytest.approx(1.0)  # (1.4 - 0.4) s over the whole second
    clock.now, busy[0], own[0] = 1.5, 11.4, 1.4
    others.sample()
    assert others.cores == pytest.approx(0.5)  # the first sample has left: 0.5 s over the last second


def test_the_host_s_sampler_follows_the_cpu_others_use() -> None:
    others = OthersCpu(window_s=0.1)
    others.start()
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])  # nosec B603
    try:
        deadline = time.monotonic() + 10
        while others.cores < 0.5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert others.cores >= 0.5
    finally:
        burner.kill()
        burner.wait()


def test_busy_cpu_time_is_read_from_the_cgroup_else_the_host(tmp_path: Path) -> None:
    cpu_stat, proc_stat = tmp_path / "cpu.stat", tmp_path / "stat"
    proc_stat.write_text("cpu  100 0 50 9000 40 0 10 0 0 0\ncpu0 50 0 25 4500 20 0 5 0 0 0\n")
    assert busy_seconds(cpu_stat, proc_stat) == pytest.approx(160 / os.sysconf("SC_CLK_TCK"))  # idle, iowait left out
    cpu_stat.write_text("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n")
    assert busy_seconds(cpu_stat, proc_stat) == 2.5


def test_runs_that_start_while_one_runs_alone_wait_for_it(tmp_path: Path) -> None:
    runs = HostRuns(tmp_path / "runs.lock", 2, idle_host())
    entered: list[tuple[float, bool]] = []

    def second_run() -> None:
        with runs.run(2) as bursts:
            entered.append((time.monotonic(), bursts))

    with runs.run(2) as bursts:
        assert bursts
        waiting = threading.Thread(target=second_run)
        waiting.start()
        time.sleep(0.3)
        assert entered == []  # a thread has its own hold of the lock, as another process would
        ended = time.monotonic()
    waiting.join(timeout=10)
    assert len(entered) == 1 and entered[0][0] >= ended


class RecordingSession:
    """Stands in for an onnxruntime session: records the runs it served."""

    def __init__(self) -> None:
        self.runs = 0

    def run(self, outputs: Sequence[str] | None, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        self.runs += 1
        return [feeds["x"]]


def test_a_bursting_model_runs_its_burst_session_alone_and_its_base_session_beside_others(tmp_path: Path) -> None:
    base, burst = RecordingSession(), RecordingSession()
    session = ModelSession(base, (burst, 2, HostRuns(tmp_path / "runs.lock", 2, idle_host())))  # type: ignore[arg-type]
    x = np.arange(3)
    assert session.run(None, {"x": x})[0] is x
    assert (base.runs, burst.runs) == (0, 1)
    with run_in_another_process(tmp_path / "runs.lock"):
        session.run(None, {"x": x})
    assert (base.runs, burst.runs) == (1, 1)


def test_a_model_bursts_on_a_cpu_with_the_cores_for_it(repository: Path, tmp_path: Path) -> None:
    encoder = ModelLayout(repository, DEFAULT_MODEL).encoder("int8")
    assert create_session(encoder, SessionOptions(burst_threads=2)).bursts == (usable_cpus() >= 2)
    assert not create_session(encoder, SessionOptions(burst_threads=1)).bursts
    assert not create_session(encoder, SessionOptions(intra_op_threads=2, burst_threads=2)).bursts


def test_the_engine_decodes_the_same_alone_with_two_threads_and_beside_another_run_with_one(
    model_files: Callable[[str], ModelFiles], jfk_pcm: np.ndarray, tmp_path: Path
) -> None:
    lock = tmp_path / "runs.lock"
    options = EngineOptions(precision="int8", session=SessionOptions(burst_threads=2, host_runs=lock))
    engine = WhisperEngine.load(model_files(DEFAULT_MODEL), options)
    clips = [jfk_pcm, jfk_pcm[: 4 * 16000]]
    alone = engine.decode_batch(clips)
    with run_in_another_process(lock):
        beside = engine.decode_batch(clips)
    assert beside == alone


def test_usable_cpus_keep_to_a_cgroup_quota(tmp_path: Path) -> None:
    cpu_max = tmp_path / "cpu.max"
    affinity = usable_cpus(tmp_path / "absent")
    cpu_max.write_text("max 100000\n")
    assert usable_cpus(cpu_max) == affinity
    cpu_max.write_text("50000 100000\n")
    assert usable_cpus(cpu_max) == 1
    cpu_max.write_text(f"{150000 * affinity} 100000\n")
    assert usable_cpus(cpu_max) == affinity
