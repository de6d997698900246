"""`python -m perf.scaleout failover|rollout`: the service under load while its Tritons change beneath it.

failover (`make scaleout`): two Tritons (tiny.en, fused, int8) behind one gateway (Triton only: no CPU
fallback to hide a failure; a canary every 2 s); 8 clients post LibriSpeech clips for 60 s. At a third of
the run one Triton is killed (SIGKILL to its process group: the server and its python stubs), at two
thirds it is started again on the same ports. Reported: requests and failures, each endpoint's share of
the calls (the gateway's `dattavani_triton_endpoint_requests_total`) before the kill and over the run,
how long after the restarted Triton was ready the gateway admitted it again (`dattavani_triton_endpoint_up`)
and its counter showed a call answered (both polled every 0.5 s), the breaker settings, latency by phase.

rollout (`make rollout-bench`): one Triton and a gateway on a hard-linked copy of tiny.en's export
(canary every 1 s); 4 clients post LibriSpeech clips for 60 s, or until the steps are done. After 10 s:
a rollout to fp32 and the rollback (`python -m triton_server.rollout`), then a staged version with one
byte of its encoder flipped, and one with its encoder cut in half, each switched to: each must be
refused naming the file while version 1 serves on, and counted by the gateway's refused-versions gauge;
then a rollout of a good int8 copy above them (the gauge must go back to 0) and a rollback to version 1
(deleting the others). Reported: failures, the X-Model-Version of the answers in the order sent, each
step's duration and outcome, the gauge before and after.

A transcript is right when its WER against the text the same stack gave for the clip alone at the start
is at most perf.connections.MAX_WORD_ERROR. Results: perf/results/{scaleout,rollout}.{json,md}; exits 1
when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.gateway_process import GatewayProcess, gateway_environment
from devstack.stack import Stack, local_stack
from gateway.config import load_config
from perf.accuracy import normalize, word_error_rate
from perf.connections import MAX_WORD_ERROR
from perf.datasets import load_dataset
from perf.load import Answer, latency_ms, send_clips
from perf.provenance import describe_host, host, provenance
from triton_server import rollout as rollout_cli
from triton_server.launcher import TritonLaunchError, TritonServer, triton_on_free_ports
from triton_server.rollout import GatewayWatch, RolloutError, switch
from triton_server.versions import stage_version
from whisper_runtime.repository import DEFAULT_MODEL, DEFAULT_REPOSITORY, VAD_DIR, ModelLayout, Precision

RESULTS = Path(__file__).resolve().parent / "results"
MODEL = DEFAULT_MODEL
PRECISION: Precision = "int8"
FAILOVER_CANARY_INTERVAL_S = 2.0
ROLLOUT_CANARY_INTERVAL_S = 1.0
ROLLOUT_PRECISION: Precision = "fp32"
METRICS_POLL_S = 0.5
SERVED_AGAIN_TIMEOUT_S = 60.0  # the load goes on past its duration until the restarted Triton served a call, or this
# Least-in-flight over two equal endpoints gives each about half; a third is clearly both.
MIN_SHARE = 1 / 3
REFUSAL_GAUGE_WAIT_S = 10.0  # a few of the gateway's canary rounds, which read Triton's repository index
ENDPOINT_CALLS = "dattavani_triton_endpoint_requests_total"
ENDPOINT_UP = "dattavani_triton_endpoint_up"
REFUSED_GAUGE = "dattavani_triton_model_versions_refused"
TAIL_S = 3.0  # the rollout's clients go on this long after its last step, to see what serves then


def librispeech_clips() -> list[tuple[str, bytes]]:
    dataset = load_dataset("librispeech")  # nosec B615
    return [(clip.path.name, clip.path.read_bytes()) for clip in dataset]


async def transcripts_alone(gateway_url: str, api_key: str, clips: list[tuple[str, bytes]]) -> dict[str, str]:
    """Each clip's transcript, sent alone (one client, each clip once): what every later answer is held to."""
    record: list[Answer] = []
    await send_clips(gateway_url, api_key, clips, 1, lambda: True, record, requests=len(clips))
    failed = [f"{answer.clip}: {answer.status} {answer.text}" for answer in record if answer.status != 200]
    if failed:
        raise RuntimeError(f"the stack failed its first requests: {failed}")
    return {answer.clip: answer.text for answer in record}


def check_answers(record: Sequence[Answer], expected: dict[str, str]) -> dict[str, Any]:
    """Requests, failures (anything but a 200, each with its error) and wrong transcripts of a run."""
    failed = [answer for answer in record if answer.status != 200]
    ok = [answer for answer in record if answer.status == 200]
    differing = [a for a in ok if normalize(a.text) != normalize(expected[a.clip])]
    wrong = [a for a in differing if word_error_rate([expected[a.clip]], [a.text]) > MAX_WORD_ERROR]
    return {
        "requests": len(record),
        "failed": len(failed),
        "failed_statuses": dict(Counter(str(answer.status) for answer in failed)),
        "failures": [f"{answer.status}: {answer.text}" for answer in failed[:20]],
        "wrong_transcripts": len(wrong),
        "wrong": [f"{a.clip}: {a.text!r} instead of {expected[a.clip]!r}" for a in wrong[:10]],
        "identical_to_start": len(ok) - len(differing),
        "differing": [
            f"{a.clip} ({a.model_version}): {a.text!r} instead of {expected[a.clip]!r}" for a in differing[:10]
        ],
        "latency_ms": latency_ms(record),
    }


_SAMPLE = re.compile(r"^([A-Za-z_:][\w:]*)\{([^}]*)\} (\S+)$", re.MULTILINE)
_LABEL = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Scrape:
    """One reading of the gateway's /metrics: its labelled samples."""

    samples: list[tuple[str, dict[str, str], float]]

    def endpoint_calls(self) -> Counter[tuple[str, str]]:
        """Calls to each Triton endpoint for MODEL by (endpoint, outcome)."""
        calls: Counter[tuple[str, str]] = Counter()
        for endpoint, outcome, value in (
            (labels["endpoint"], labels["outcome"], value)
            for name, labels, value in self.samples
            if name == ENDPOINT_CALLS and labels.get("model") == MODEL
        ):
            calls[endpoint, outcome] += int(value)
        return calls

    def by_endpoint(self, metric: str) -> dict[str, float]:
        """A gauge's value for MODEL on each endpoint."""
        return {
            labels["endpoint"]: value
            for name, labels, value in self.samples
            if name == metric and labels.get("model") == MODEL
        }


@dataclass(frozen=True)
class GatewayMetrics:
    """The gateway's /metrics, behind its API key."""

    url: str
    api_key: str

    def scrape(self) -> Scrape:
        # the gateway this benchmark started
        request = urllib.request.Request(  # noqa: S310  # nosec B310
            f"{self.url}/metrics", headers={"Authorization": f"Bearer {self.api_key}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  # nosec B310
            text = response.read().decode()
        return Scrape(
            [(name, dict(_LABEL.findall(labels)), float(value)) for name, labels, value in _SAMPLE.findall(text)]
        )

    def endpoint_calls(self) -> Counter[tuple[str, str]]:
        return self.scrape().endpoint_calls()


def served(
    calls: Counter[tuple[str, str]], since: Counter[tuple[str, str]], endpoints: Sequence[str]
) -> dict[str, int]:
    """Calls answered ("ok") by each endpoint between two readings of GatewayMetrics.endpoint_calls."""
    return {endpoint: calls[endpoint, "ok"] - since[endpoint, "ok"] for endpoint in endpoints}


def failed_calls(calls: Counter[tuple[str, str]], since: Counter[tuple[str, str]]) -> dict[str, dict[str, int]]:
    """Calls that failed (and were retried elsewhere, or not), by endpoint and outcome, between two readings."""
    failed: dict[str, dict[str, int]] = {}
    for (endpoint, outcome), count in (calls - since).items():
        if outcome != "ok":
            failed.setdefault(endpoint, {})[outcome] = count
    return failed


def shares(counts: dict[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    return {endpoint: round(count / total, 3) if total else 0.0 for endpoint, count in counts.items()}


def kill_server(server: TritonServer) -> int | None:
    """SIGKILL Triton with its python stubs (it leads its own process group), then reap it: its exit code."""
    if server.pid is None:
        raise RuntimeError("that Triton is not running")
    os.killpg(server.pid, signal.SIGKILL)
    return server.stop()


@dataclass
class FailoverRun:
    """What happened during the failover run: the answers, the gateway's endpoint counters at its moments, and
    when each thing happened (monotonic seconds; None: it did not happen)."""

    record: list[Answer]
    started: float
    calls_at_start: Counter[tuple[str, str]]
    calls_before_kill: Counter[tuple[str, str]] | None = None
    calls_at_ready: Counter[tuple[str, str]] | None = None  # when the restarted Triton was ready
    calls_at_end: Counter[tuple[str, str]] | None = None
    killed_at: float | None = None
    exit_code_of_killed: int | None = None
    restart_started: float | None = None
    ready_at: float | None = None
    admitted_at: float | None = None  # the gateway's readiness report shows it admitted again
    served_again_at: float | None = None  # its counter shows a call answered (a call takes a latency to answer)
    restart_error: str | None = None

    def seconds_in(self, moment: float | None) -> float | None:
        return None if moment is None else round(moment - self.started, 2)

    def phases(self) -> dict[str, list[Answer]]:
        """The answers by when they were sent: before the kill, while one Triton was down, after the restart."""
        killed = self.killed_at if self.killed_at is not None else float("inf")
        ready = self.ready_at if self.ready_at is not None else float("inf")
        return {
            "before_kill": [a for a in self.record if a.sent_s < killed],
            "while_down": [a for a in self.record if killed <= a.sent_s < ready],
            "after_restart": [a for a in self.record if a.sent_s >= ready],
        }


async def _failover_run(
    gateway: GatewayProcess,
    api_key: str,
    victim: TritonServer,
    exits: ExitStack,
    clients: int,
    duration_s: float,
    kill_at_s: float,
    restart_at_s: float,
) -> FailoverRun:
    """Load for `duration_s`; kill `victim` at `kill_at_s` and start it again at `restart_at_s` (its stop is
    left to `exits`), then poll until the gateway sends it calls (the load goes on until then, up to
    SERVED_AGAIN_TIMEOUT_S after it was ready, however short `duration_s`)."""
    metrics = GatewayMetrics(gateway.url, api_key)
    address = victim.settings.grpc_url
    run = FailoverRun([], time.monotonic(), await asyncio.to_thread(metrics.endpoint_calls))
    end_at = run.started + duration_s
    stop_at = [end_at]  # moved on while the restarted Triton waits for its first call (a slow host)

    def running() -> bool:
        return time.monotonic() < stop_at[0]

    load = asyncio.create_task(send_clips(gateway.url, api_key, librispeech_clips(), clients, running, run.record))
    await asyncio.sleep(max(0.0, run.started + kill_at_s - time.monotonic()))
    run.calls_before_kill = await asyncio.to_thread(metrics.endpoint_calls)
    run.exit_code_of_killed = await asyncio.to_thread(kill_server, victim)
    run.killed_at = time.monotonic()
    await asyncio.sleep(max(0.0, run.started + restart_at_s - time.monotonic()))
    run.restart_started = time.monotonic()
    try:
        log = exits.enter_context((victim.settings.workdir / "triton.log").open("ab"))
        restarted = await asyncio.to_thread(TritonServer(victim.settings, log=log).start)  # the same ports
        exits.callback(restarted.stop)
        run.ready_at = time.monotonic()
    except TritonLaunchError as exc:
        run.restart_error = str(exc)
    if run.ready_at is not None:
        run.calls_at_ready = at_ready = await asyncio.to_thread(metrics.endpoint_calls)
        stop_at[0] = max(end_at, run.ready_at + SERVED_AGAIN_TIMEOUT_S)
        while run.served_again_at is None and time.monotonic() < stop_at[0]:
            await asyncio.sleep(METRICS_POLL_S)
            scrape = await asyncio.to_thread(metrics.scrape)
            if run.admitted_at is None and scrape.by_endpoint(ENDPOINT_UP).get(address) == 1:
                run.admitted_at = time.monotonic()
            if scrape.endpoint_calls()[address, "ok"] > at_ready[address, "ok"]:
                run.served_again_at = time.monotonic()
        stop_at[0] = max(end_at, time.monotonic())
    await load
    run.calls_at_end = await asyncio.to_thread(metrics.endpoint_calls)
    return run


def failover(
    workdir: Path,
    clients: int = 8,
    duration_s: float = 60.0,
    kill_at_s: float | None = None,
    restart_at_s: float | None = None,
) -> dict[str, Any]:
    """The failover benchmark (the module's docstring): kill at `kill_at_s` (default a third of the run),
    restart at `restart_at_s` (two thirds); its report, with `passed` and the checks behind it."""
    kill_at_s = duration_s / 3 if kill_at_s is None else kill_at_s
    restart_at_s = 2 * duration_s / 3 if restart_at_s is None else restart_at_s
    api_key = secrets.token_urlsafe(16)
    with ExitStack() as exits:
        tritons = [
            exits.enter_context(triton_on_free_ports(workdir / name, PRECISION, profile="fused", models=(MODEL,)))
            for name in ("triton-a", "triton-b")
        ]
        env = gateway_environment(
            tritons[0].settings,
            api_key,
            DATTAVANI_TRITON_URL=",".join(server.settings.grpc_url for server in tritons),
            DATTAVANI_TRITON_METRICS_URL=",".join(server.settings.metrics_url for server in tritons),
            DATTAVANI_MODELS=MODEL,
            DATTAVANI_BACKENDS="triton",
            DATTAVANI_CANARY_INTERVAL_S=str(FAILOVER_CANARY_INTERVAL_S),
        )
        config = load_config(env)
        gateway = GatewayProcess(env, workdir / "gateway.log").start()
        exits.callback(gateway.stop)
        clips = librispeech_clips()
        expected = asyncio.run(transcripts_alone(gateway.url, api_key, clips))
        asyncio.run(send_clips(gateway.url, api_key, clips, clients, lambda: True, [], requests=4 * clients))  # warm-up
        run = asyncio.run(
            _failover_run(gateway, api_key, tritons[0], exits, clients, duration_s, kill_at_s, restart_at_s)
        )
    endpoints = [server.settings.grpc_url for server in tritons]
    before_kill = served(run.calls_before_kill or run.calls_at_start, run.calls_at_start, endpoints)
    at_end = run.calls_at_end or run.calls_at_start
    whole_run = served(at_end, run.calls_at_start, endpoints)
    after_restart = served(at_end, run.calls_at_ready or at_end, endpoints)
    both_up = {endpoint: before_kill[endpoint] + after_restart[endpoint] for endpoint in endpoints}
    answers = check_answers(run.record, expected)
    restart = {
        "exit_code_of_killed": run.exit_code_of_killed,
        "killed_at_s": run.seconds_in(run.killed_at),
        "restart_started_at_s": run.seconds_in(run.restart_started),
        "ready_at_s": run.seconds_in(run.ready_at),
        "startup_s": _between(run.restart_started, run.ready_at),
        "admitted_again_at_s": run.seconds_in(run.admitted_at),
        "admitted_after_ready_s": _between(run.ready_at, run.admitted_at),
        "served_again_at_s": run.seconds_in(run.served_again_at),
        "back_after_ready_s": _between(run.ready_at, run.served_again_at),
        "error": run.restart_error,
    }
    checks = {
        "no_failed_requests": answers["failed"] == 0,
        "transcripts_right": answers["wrong_transcripts"] == 0,
        "both_served_while_both_up": all(share >= MIN_SHARE for share in shares(both_up).values()),
        "restarted_served_again": run.served_again_at is not None,
    }
    phases = run.phases()
    return {
        "benchmark": "failover",
        "model": MODEL,
        "precision": PRECISION,
        "profile": "fused",
        "clients": clients,
        "duration_s": duration_s,
        "kill_at_s": round(kill_at_s, 2),
        "restart_at_s": round(restart_at_s, 2),
        "endpoints": endpoints,
        "killed": endpoints[0],
        "gateway": {
            "backends": list(config.backends),
            "canary_interval_s": config.canary_interval_s,
            "breaker_fail_max": config.breaker_fail_max,
            "breaker_recovery_s": config.breaker_recovery_s,
            "retry_max_tries": config.retry_max_tries,
        },
        **answers,
        "latency_ms_by_phase": {name: latency_ms(answers) for name, answers in phases.items()},
        "requests_by_phase": {name: len(answers) for name, answers in phases.items()},
        "calls_before_kill": before_kill,
        "share_before_kill": shares(before_kill),
        "calls_after_restart": after_restart,
        "share_after_restart": shares(after_restart),
        "calls_while_both_up": both_up,
        "share_while_both_up": shares(both_up),
        "calls_whole_run": whole_run,
        "share_whole_run": shares(whole_run),
        "failed_calls": failed_calls(at_end, run.calls_at_start),
        "restart": restart,
        "checks": checks,
        "passed": all(checks.values()),
        "host": host(),
    }


def _between(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round(end - start, 2)


def failover_markdown(report: dict[str, Any]) -> str:
    restart, gateway = report["restart"], report["gateway"]
    rows: list[tuple[str, object]] = [
        ("requests (failed)", f"{report['requests']} ({report['failed']})"),
        ("wrong transcripts (identical to the start)", _wrong_text(report)),
        ("share before the kill", _share_text(report["share_before_kill"], report["calls_before_kill"])),
        ("share after the restart", _share_text(report["share_after_restart"], report["calls_after_restart"])),
        ("share while both were up", _share_text(report["share_while_both_up"], report["calls_while_both_up"])),
        ("share over the run", _share_text(report["share_whole_run"], report["calls_whole_run"])),
        ("failed calls, retried elsewhere", json.dumps(report["failed_calls"]) if report["failed_calls"] else "none"),
        ("killed / restarted (s into the run)", f"{restart['killed_at_s']} / {restart['restart_started_at_s']}"),
        ("restart until ready (s)", restart["startup_s"]),
        ("ready until admitted again (s, its endpoint_up polled every 0.5 s)", restart["admitted_after_ready_s"]),
        ("ready until a call to it answered (s, its counter polled every 0.5 s)", restart["back_after_ready_s"]),
        (
            "breaker: failures to open / recovery (s)",
            f"{gateway['breaker_fail_max']} / {gateway['breaker_recovery_s']}",
        ),
        ("canary interval (s)", gateway["canary_interval_s"]),
        ("latency p50 / p95 (ms)", _percentiles(report["latency_ms"])),
    ]
    for phase, latency in report["latency_ms_by_phase"].items():
        requests = report["requests_by_phase"][phase]
        rows.append((f"latency p50 / p95 (ms), {phase.replace('_', ' ')} ({requests} requests)", _percentiles(latency)))
    return _table(
        f"Failover: {report['clients']} clients for {report['duration_s']:.0f} s against two Tritons ({MODEL}, "
        f"{PRECISION}, fused) behind one gateway; {report['killed']} killed (SIGKILL) and restarted on its ports.",
        rows,
        report,
    )


def _percentiles(latency: dict[str, float]) -> str:
    return f"{latency.get('p50')} / {latency.get('p95')}"


def _wrong_text(report: dict[str, Any]) -> str:
    return f"{report['wrong_transcripts']} ({report['identical_to_start']})"


def _share_text(share: dict[str, float], calls: dict[str, int]) -> str:
    return ", ".join(f"{endpoint} {share[endpoint]:.0%} ({calls[endpoint]})" for endpoint in share)


def _table(title: str, rows: Sequence[tuple[str, object]], report: dict[str, Any]) -> str:
    lines = [title, "", "| | |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)]
    failed = [name for name, holds in report["checks"].items() if not holds]
    lines += ["", f"Checks: {'all passed' if not failed else 'FAILED: ' + ', '.join(failed)}."]
    lines += ["", f"{describe_host(report['host'])}; made {report['created']} by `{report['command']}`."]
    return "\n".join(lines) + "\n"


def linked_repository_copy(source: Path, model: str, target: Path) -> Path:
    """`model`'s Triton models and the VAD of the repository `source`, hard-linked under `target` (no
    __pycache__): staging copies the files it writes, so the originals are never written."""
    for triton_model in (*ModelLayout(source, model).triton_models, VAD_DIR):
        shutil.copytree(
            source / triton_model,
            target / triton_model,
            copy_function=lambda origin, copy: Path(copy).hardlink_to(origin),
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    return target


def flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def cut_in_half(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size // 2)


DAMAGES: dict[str, Callable[[Path], None]] = {"flipped byte": flip_middle_byte, "truncated": cut_in_half}


@dataclass
class Step:
    """One step of the rollout benchmark: when it ran (seconds into the run) and what came of it."""

    name: str
    started_s: float
    ended_s: float = 0.0
    outcome: dict[str, Any] | None = None

    def report(self) -> dict[str, Any]:
        return {
            "step": self.name,
            "started_s": round(self.started_s, 2),
            "ended_s": round(self.ended_s, 2),
            "duration_s": round(self.ended_s - self.started_s, 2),
            **(self.outcome or {}),
        }


def _timed(name: str, started: float, action: Callable[[], dict[str, Any]]) -> Step:
    step = Step(name, time.monotonic() - started)
    print(f"--- {name} at {step.started_s:.1f} s", flush=True)
    step.outcome = action()
    step.ended_s = time.monotonic() - started
    return step


def _rollout_steps(stack: Stack, repository: Path, started: float) -> list[Step]:
    http_url, gateway = stack.triton.settings.http_url, stack.gateway.url
    common = ["--model", MODEL, "--repository", str(repository), "--triton", http_url]
    common += ["--gateway", gateway, "--api-key", stack.api_key]
    watch = GatewayWatch(gateway, stack.api_key)
    metrics = GatewayMetrics(gateway, stack.api_key)

    def run_cli(*args: str) -> dict[str, Any]:
        code = rollout_cli.main([*args, *common])
        return {"exit_code": code, "serving_after": sorted(watch.versions(MODEL))}

    def refused_gauge() -> float:
        return max(metrics.scrape().by_endpoint(REFUSED_GAUGE).values(), default=0.0)

    def damaged_switch(damage: Callable[[Path], None]) -> dict[str, Any]:
        """Stage a version (left on disk: the next gets a number of its own, so the gateway's gauge can show each
        refusal; the rollback at the end deletes them), damage its encoder, switch to it."""
        staged = stage_version(repository, MODEL, "int8")
        damaged = staged.encoder("int8")
        if damaged.stat().st_nlink != 1:  # a hard link would carry the damage into the export itself
            raise RuntimeError(f"{damaged} is not a copy of its own")
        damage(damaged)
        before = refused_gauge()
        outcome: dict[str, Any] = {"version": staged.version, "damaged_file": str(damaged)}
        try:
            switch([http_url], MODEL, staged.version, [watch])
            outcome["refused"] = None
        except RolloutError as exc:
            outcome["refused"] = str(exc)
        outcome["names_the_file"] = str(damaged) in (outcome["refused"] or "")
        outcome["serving_after"] = sorted(watch.versions(MODEL))
        outcome["versions_refused_gauge_before"] = before
        outcome["versions_refused_gauge"] = _eventually(refused_gauge, lambda value: value > before)
        return outcome

    def replace_damaged() -> dict[str, Any]:
        """Roll out a good copy above the damaged versions: their refusals are over (the gauge reads 0)."""
        before = refused_gauge()
        outcome = run_cli("rollout", "--precision", PRECISION)
        outcome["versions_refused_gauge_before"] = before
        outcome["versions_refused_gauge"] = _eventually(refused_gauge, lambda value: value == 0)
        return outcome

    steps = [
        _timed(
            f"rollout to {ROLLOUT_PRECISION}", started, lambda: run_cli("rollout", "--precision", ROLLOUT_PRECISION)
        ),
        _timed("rollback", started, lambda: run_cli("rollback")),
    ]
    steps += [
        _timed(f"switch to a {name} encoder", started, functools.partial(damaged_switch, damage))
        for name, damage in DAMAGES.items()
    ]
    steps.append(_timed(f"rollout of a good {PRECISION} copy above them", started, replace_damaged))
    return [*steps, _timed("rollback to version 1", started, lambda: run_cli("rollback", "--version", "1"))]


def _eventually(read: Callable[[], float], holds: Callable[[float], bool]) -> float:
    """`read()` once its value `holds` (polled every METRICS_POLL_S), or its value after REFUSAL_GAUGE_WAIT_S."""
    deadline = time.monotonic() + REFUSAL_GAUGE_WAIT_S
    while not holds(value := read()) and time.monotonic() < deadline:
        time.sleep(METRICS_POLL_S)
    return value


def version_runs(answers: Sequence[Answer]) -> list[tuple[str | None, int]]:
    """The X-Model-Version of the answers in the order they were sent, as runs: (version, answers in a row)."""
    runs: list[tuple[str | None, int]] = []
    for answer in sorted(answers, key=lambda a: a.sent_s):
        if runs and runs[-1][0] == answer.model_version:
            runs[-1] = (answer.model_version, runs[-1][1] + 1)
        else:
            runs.append((answer.model_version, 1))
    return runs


def switch_sequence(runs: Sequence[tuple[str | None, int]], stragglers: int) -> list[str | None]:
    """The versions served in turn, leaving out runs of fewer than `stragglers` answers in the middle (requests
    in flight across a switch)."""
    sequence: list[str | None] = []
    for index, (version, count) in enumerate(runs):
        if count < stragglers and 0 < index < len(runs) - 1:
            continue
        if not sequence or sequence[-1] != version:
            sequence.append(version)
    return sequence


async def _rollout_run(
    stack: Stack, repository: Path, clients: int, duration_s: float, rollout_at_s: float
) -> tuple[list[Answer], list[Step], float]:
    record: list[Answer] = []
    started = time.monotonic()
    end_at = [float("inf")]  # set once the steps are done

    def running() -> bool:
        return time.monotonic() < max(started + duration_s, end_at[0])

    load = asyncio.create_task(
        send_clips(stack.gateway.url, stack.api_key, librispeech_clips(), clients, running, record)
    )
    await asyncio.sleep(rollout_at_s)
    try:
        steps = await asyncio.to_thread(_rollout_steps, stack, repository, started)
    finally:
        end_at[0] = time.monotonic() + TAIL_S
        await load
    return record, steps, started


def rollout(workdir: Path, clients: int = 4, duration_s: float = 60.0, rollout_at_s: float = 10.0) -> dict[str, Any]:
    """The rollout benchmark (the module's docstring); its report, with `passed` and the checks behind it."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {"DATTAVANI_CANARY_INTERVAL_S": str(ROLLOUT_CANARY_INTERVAL_S), "DATTAVANI_BACKENDS": "triton"}
    with tempfile.TemporaryDirectory(dir=workdir, prefix="repository-") as copy:  # beside the export: hard links
        repository = linked_repository_copy(DEFAULT_REPOSITORY, MODEL, Path(copy).resolve())
        with local_stack(
            workdir, PRECISION, gateway_env=env, profile="fused", models=(MODEL,), repository=repository
        ) as stack:
            expected = asyncio.run(transcripts_alone(stack.gateway.url, stack.api_key, librispeech_clips()))
            record, steps, started = asyncio.run(_rollout_run(stack, repository, clients, duration_s, rollout_at_s))
    answers = check_answers(record, expected)
    runs = version_runs(record)
    step_reports = [step.report() for step in steps]
    for step in step_reports:  # what the clients saw meanwhile
        step["latency_ms"] = latency_ms([a for a in record if _sent_during(a, step, started)])
    before_steps = latency_ms([a for a in record if a.sent_s - started < step_reports[0]["started_s"]])
    rollout_step, rollback_step, *damaged, replacement, last_rollback = step_reports
    during_damage = {
        step["step"]: dict(Counter(str(a.model_version) for a in record if _sent_during(a, step, started)))
        for step in damaged
    }
    checks = {
        "no_failed_requests": answers["failed"] == 0,
        "transcripts_right": answers["wrong_transcripts"] == 0,
        "rollouts_and_rollbacks_succeeded": all(
            step["exit_code"] == 0 for step in (rollout_step, rollback_step, replacement, last_rollback)
        ),
        "switch_visible": switch_sequence(runs, clients)
        == ["triton/1", "triton/2", "triton/1", f"triton/{replacement['serving_after'][0]}", "triton/1"],
        "damaged_versions_refused_naming_the_file": all(step["refused"] and step["names_the_file"] for step in damaged),
        "version_1_serves_on": all(step["serving_after"] == ["1"] for step in damaged)
        and all(set(versions) == {"triton/1"} for versions in during_damage.values()),
        "each_refusal_in_gateway_metrics": all(
            step["versions_refused_gauge"] == step["versions_refused_gauge_before"] + 1 for step in damaged
        ),
        "refusals_over_once_a_later_version_serves": replacement["versions_refused_gauge"] == 0,
    }
    return {
        "benchmark": "rollout",
        "model": MODEL,
        "precision": PRECISION,
        "rollout_precision": ROLLOUT_PRECISION,
        "profile": "fused",
        "clients": clients,
        "duration_s": duration_s,
        "rollout_at_s": rollout_at_s,
        "canary_interval_s": ROLLOUT_CANARY_INTERVAL_S,
        **answers,
        "wall_s": round(max((a.done_s for a in record), default=started) - started, 1),
        "model_version_runs": runs,
        "model_versions_in_turn": switch_sequence(runs, clients),
        "versions_answered_during_damaged_switches": during_damage,
        "latency_ms_before_the_steps": before_steps,
        "steps": step_reports,
        "checks": checks,
        "passed": all(checks.values()),
        "host": host(),
    }


def _sent_during(answer: Answer, step: dict[str, Any], started: float) -> bool:
    return bool(step["started_s"] <= answer.sent_s - started <= step["ended_s"])


def rollout_markdown(report: dict[str, Any]) -> str:
    runs = ", ".join(f"{version} x{count}" for version, count in report["model_version_runs"])
    rows: list[tuple[str, object]] = [
        ("requests (failed)", f"{report['requests']} ({report['failed']})"),
        ("wrong transcripts (identical to the start)", _wrong_text(report)),
        ("X-Model-Version in the order sent", runs),
        ("latency p50 / p95 (ms)", _percentiles(report["latency_ms"])),
        ("latency p50 / p95 (ms) before the steps", _percentiles(report["latency_ms_before_the_steps"])),
    ]
    for step in report["steps"]:
        if "exit_code" in step:
            outcome = f"exit code {step['exit_code']}, then serving {', '.join(step['serving_after'])}"
            if "versions_refused_gauge" in step:
                outcome += (
                    f"; gateway's versions_refused {step['versions_refused_gauge_before']} before, "
                    f"{step['versions_refused_gauge']} after"
                )
        else:
            refused = "refused, naming the file" if step["names_the_file"] else f"refused: {step['refused']}"
            outcome = (
                f"{refused if step['refused'] else 'NOT refused'}; then serving {', '.join(step['serving_after'])}; "
                f"answered meanwhile {step_versions(report, step['step'])}; "
                f"gateway's versions_refused {step['versions_refused_gauge_before']} before, "
                f"{step['versions_refused_gauge']} after"
            )
        rows.append(
            (
                f"{step['step']} ({step['started_s']:.0f} s into the run)",
                f"{step['duration_s']:.1f} s: {outcome}; latency meanwhile {_percentiles(step['latency_ms'])} ms",
            )
        )
    return _table(
        f"Rollout: {report['clients']} clients on one Triton ({MODEL}, {PRECISION}, fused) and one gateway (canary "
        f"every {report['canary_interval_s']:.0f} s); rollout to {report['rollout_precision']}, rollback, two damaged "
        f"versions switched to, a rollout of a good {PRECISION} copy above them, rollback.",
        rows,
        report,
    )


def step_versions(report: dict[str, Any], step: str) -> str:
    versions = report["versions_answered_during_damaged_switches"][step]
    return ", ".join(f"{version} x{count}" for version, count in versions.items()) or "nothing"


def _write(report: dict[str, Any], markdown: Callable[[dict[str, Any]], str], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report), end="")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perf.scaleout", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    benchmarks = parser.add_subparsers(dest="benchmark", required=True)
    failover_args = benchmarks.add_parser("failover", help="two Tritons, one killed and restarted under load")
    failover_args.add_argument("--clients", type=int, default=8)
    failover_args.add_argument("--duration-s", type=float, default=60.0)
    failover_args.add_argument("--out", type=Path, default=RESULTS / "scaleout.json")
    rollout_args = benchmarks.add_parser("rollout", help="a rollout, a rollback and two damaged versions under load")
    rollout_args.add_argument("--clients", type=int, default=4)
    rollout_args.add_argument("--duration-s", type=float, default=60.0)
    rollout_args.add_argument("--rollout-at-s", type=float, default=10.0)
    rollout_args.add_argument("--out", type=Path, default=RESULTS / "rollout.json")
    args = parser.parse_args(argv)
    workdir = Path(".run") / f"perf-{args.benchmark}"
    if args.benchmark == "failover":
        report = failover(workdir, args.clients, args.duration_s) | provenance("perf.scaleout", argv)
        _write(report, failover_markdown, args.out)
    else:
        report = rollout(workdir, args.clients, args.duration_s, args.rollout_at_s) | provenance("perf.scaleout", argv)
        _write(report, rollout_markdown, args.out)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
