"""Failures of Triton never become failures for clients: real processes, real signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from devstack.stack import Stack, local_stack
from tests.audio_files import JFK, JFK_TEXT, normalize
from triton_server.launcher import TritonServer
from whisper_runtime.repository import DEFAULT_MODEL

RECOVERY_S = 4.0
CANARY_S = 1.0
TRITON_TIMEOUT_S = 3.0
# Waits for an event give up after this; the event itself is what the test asserts.
EVENT_BOUND_S = 120.0
RESILIENCE_ENV = {
    "DATTAVANI_TRITON_TIMEOUT_S": str(TRITON_TIMEOUT_S),
    "DATTAVANI_BREAKER_FAIL_MAX": "3",
    "DATTAVANI_BREAKER_RECOVERY_S": str(RECOVERY_S),
    "DATTAVANI_CANARY_INTERVAL_S": str(CANARY_S),
    "DATTAVANI_RETRY_MAX_TRIES": "2",
}


@dataclass(frozen=True)
class Outcome:
    status: int
    served_by: str
    text: str
    finished_at: float


def transcribe(stack: Stack) -> Outcome:
    response = requests.post(
        f"{stack.gateway.url}/v1/audio/transcriptions",
        files={"file": ("jfk.flac", JFK.read_bytes())},
        headers={"Authorization": f"Bearer {stack.api_key}"},
        timeout=120,
    )
    text = response.json().get("text", "") if response.status_code == 200 else response.text
    return Outcome(response.status_code, response.headers.get("X-Served-By", ""), text, time.monotonic())


class RequestStream:
    """`workers` clients sending jfk.flac back to back until stopped."""

    def __init__(self, stack: Stack, workers: int) -> None:
        self.outcomes: list[Outcome] = []
        self._stop = threading.Event()
        self._stack = stack
        self._threads = [threading.Thread(target=self._run) for _ in range(workers)]

    def _run(self) -> None:
        while not self._stop.is_set():
            self.outcomes.append(transcribe(self._stack))

    def finished_after(self, moment: float) -> list[Outcome]:
        return [o for o in list(self.outcomes) if o.finished_at > moment]

    def served_by(self, backend: str, after: float = 0.0) -> int:
        """How many requests finishing after `after` `backend` served."""
        return sum(o.served_by == backend for o in self.finished_after(after))

    def __enter__(self) -> RequestStream:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(120)


def ready_body(stack: Stack) -> dict:
    return requests.get(
        f"{stack.gateway.url}/health/ready", headers={"Authorization": f"Bearer {stack.api_key}"}, timeout=30
    ).json()


def assert_all_right(outcomes: list[Outcome]) -> None:
    assert outcomes
    failed = [o for o in outcomes if o.status != 200 or normalize(o.text) != normalize(JFK_TEXT)]
    assert failed == [], failed[:3]


def wait_for(condition: Callable[[], bool], what: str, bound_s: float = EVENT_BOUND_S) -> None:
    """Poll `condition` until it holds; fail naming `what` after `bound_s`."""
    deadline = time.monotonic() + bound_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {bound_s:.0f} s")
        time.sleep(0.05)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with local_stack(tmp_path, gateway_env=RESILIENCE_ENV, models=(DEFAULT_MODEL,)) as running:
        yield running


@pytest.fixture
def request_s(stack: Stack) -> float:
    """How long one jfk.flac request through Triton takes on this host (the slower of two warm ones)."""
    assert transcribe(stack).status == 200  # warm-up
    durations = []
    for _ in range(2):
        started = time.monotonic()
        outcome = transcribe(stack)
        assert (outcome.status, outcome.served_by) == (200, "triton")
        durations.append(outcome.finished_at - started)
    return max(durations)


def signal_triton(server: TritonServer, signum: int) -> None:
    assert server.pid is not None
    os.killpg(server.pid, signum)  # the server and its python stubs


def first_triton_answer_after(stack: Stack, since: float, give_up_s: float) -> float:
    """Seconds from `since` until a request is served by Triton again."""
    while time.monotonic() - since < give_up_s:
        outcome = transcribe(stack)
        assert outcome.status == 200
        if outcome.served_by == "triton":
            return outcome.finished_at - since
        time.sleep(0.2)
    raise AssertionError(f"traffic did not return to Triton within {give_up_s} s")


def test_triton_killed_mid_stream_fallback_serves_and_traffic_returns(
    stack: Stack, request_s: float, tmp_path: Path
) -> None:
    with RequestStream(stack, workers=3) as stream:
        wait_for(lambda: stream.served_by("triton") > 0, "a request served by Triton")
        signal_triton(stack.triton, signal.SIGKILL)
        killed_at = time.monotonic()
        wait_for(lambda: len(stream.finished_after(killed_at + 1)) >= 6, "six requests finishing after the kill")
    assert_all_right(stream.outcomes)
    after_kill = stream.finished_after(killed_at + 1)
    assert after_kill and all(o.served_by == "fallback" for o in after_kill)
    assert any(o.served_by == "triton" for o in stream.outcomes if o.finished_at < killed_at)
    triton_health = ready_body(stack)["models"][DEFAULT_MODEL]["backends"]["triton"]
    assert triton_health["status"] == "down"
    endpoint = stack.triton.settings.grpc_url
    assert triton_health["endpoints"][endpoint]["status"] == "down"  # ejected: its check or its breaker
    metrics = requests.get(
        f"{stack.gateway.url}/metrics", headers={"Authorization": f"Bearer {stack.api_key}"}, timeout=30
    )
    assert metrics.status_code == 200  # Triton's part is absent, and a gauge says so
    assert f'dattavani_triton_metrics_up{{endpoint="{endpoint}"}} 0.0' in metrics.text
    assert f'dattavani_triton_endpoint_up{{endpoint="{endpoint}",model="{DEFAULT_MODEL}"}} 0.0' in metrics.text
    assert "\nnv_" not in metrics.text

    with (tmp_path / "triton-restarted.log").open("ab") as log, TritonServer(stack.triton.settings, log=log):
        restarted_at = time.monotonic()
        back_after = first_triton_answer_after(stack, restarted_at, give_up_s=RECOVERY_S + CANARY_S + EVENT_BOUND_S)
        # + the last fallback request and the first Triton one. The fixed 2.0 s was about 5x one jfk.flac request
        # (`request_s` measured 0.40-0.41 s on an idle AVX-512 host like the one it was tuned on); on a slower host
        # the allowance grows with it.
        assert back_after <= RECOVERY_S + CANARY_S + max(2.0, 5 * request_s)
        assert ready_body(stack)["models"][DEFAULT_MODEL]["backends"]["triton"]["status"] == "ok"


def test_triton_frozen_requests_time_out_to_the_fallback_and_sigcont_heals(stack: Stack) -> None:
    # The server process stops answering, as behind a partition. (Stopping its python stubs as well
    # makes Triton 2.51 abort on SIGCONT with boost::interprocess::lock_exception: a server crash,
    # which the SIGKILL test covers.)
    assert stack.triton.pid is not None
    with RequestStream(stack, workers=3) as stream:
        wait_for(lambda: stream.served_by("triton") > 0, "a request served by Triton")
        os.kill(stack.triton.pid, signal.SIGSTOP)
        frozen_at = time.monotonic()
        timed_out_by = frozen_at + TRITON_TIMEOUT_S + 1  # in-flight Triton calls have given up by then
        try:
            # Frozen for 9 s, and longer on a host where no fallback answer finished in that time (issue 20: on a
            # host about 3x slower a request took 1.5-3 s at concurrency 3).
            time.sleep(9.0)
            wait_for(lambda: len(stream.finished_after(timed_out_by)) > 0, "a fallback answer during the freeze")
        finally:
            os.kill(stack.triton.pid, signal.SIGCONT)
        healed_at = time.monotonic()
        recovered_at = healed_at + RECOVERY_S
        # Until a request finishing after the breaker's recovery time was served by Triton again.
        wait_for(lambda: stream.served_by("triton", after=recovered_at) > 0, "a Triton answer after the heal")
    assert_all_right(stream.outcomes)
    during = [o for o in stream.outcomes if timed_out_by < o.finished_at < healed_at]
    assert during and all(o.served_by == "fallback" for o in during)
    assert any(o.served_by == "triton" for o in stream.outcomes if o.finished_at > recovered_at)


class SlowUpload:
    """A client that sends half of its multipart upload, then holds its admitted slot until finish()."""

    BOUNDARY = "slowupload"

    def __init__(self, stack: Stack) -> None:
        body = (
            f'--{self.BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="jfk.flac"\r\n\r\n'.encode()
            + JFK.read_bytes()
            + f"\r\n--{self.BOUNDARY}--\r\n".encode()
        )
        head = (
            "POST /v1/audio/transcriptions HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
            f"Authorization: Bearer {stack.api_key}\r\n"
            f"Content-Type: multipart/form-data; boundary={self.BOUNDARY}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self._rest = body[len(body) // 2 :]
        self._socket = socket.create_connection(("127.0.0.1", stack.gateway.port), timeout=60)
        self._socket.sendall(head + body[: len(body) // 2])

    def finish(self) -> tuple[int, str]:
        self._socket.sendall(self._rest)
        response = b""
        while chunk := self._socket.recv(65536):
            response += chunk
        self._socket.close()
        head, _, body = response.partition(b"\r\n\r\n")
        return int(head.split()[1]), json.loads(body)["text"]


def test_queue_full_gets_429_with_retry_after_at_once(tmp_path: Path) -> None:
    env = {**RESILIENCE_ENV, "DATTAVANI_MAX_CONCURRENT_REQUESTS": "1", "DATTAVANI_MAX_QUEUED_REQUESTS": "1"}
    with local_stack(tmp_path, gateway_env=env, models=(DEFAULT_MODEL,)) as stack:
        held = [SlowUpload(stack) for _ in range(2)]  # one running (reading its upload), one queued
        deadline = time.monotonic() + 10
        while ready_body(stack)["requests"] != {"running": 1, "queued": 1} and time.monotonic() < deadline:
            time.sleep(0.02)
        refused = []
        for _ in range(5):
            started = time.monotonic()
            response = requests.post(
                f"{stack.gateway.url}/v1/audio/transcriptions",
                files={"file": ("jfk.flac", JFK.read_bytes())},
                headers={"Authorization": f"Bearer {stack.api_key}"},
                timeout=30,
            )
            refused.append((response, time.monotonic() - started))
        for response, seconds in refused:
            assert response.status_code == 429
            assert response.headers["Retry-After"] == "1"
            assert response.json()["error"]["code"] == "too_many_requests"
            assert seconds < 0.05
        for upload in held:
            status, text = upload.finish()
            assert status == 200
            assert normalize(text) == normalize(JFK_TEXT)


def test_sigterm_drains_in_flight_requests_then_exits_0(stack: Stack) -> None:
    in_flight = [SlowUpload(stack) for _ in range(20)]  # 8 running (uploading), 12 queued
    deadline = time.monotonic() + 20
    while sum(ready_body(stack)["requests"].values()) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ready_body(stack)["requests"] == {"running": 8, "queued": 12}
    assert stack.gateway.pid is not None
    os.kill(stack.gateway.pid, signal.SIGTERM)
    time.sleep(0.2)
    try:
        readiness = requests.get(
            f"{stack.gateway.url}/health/ready", headers={"Authorization": f"Bearer {stack.api_key}"}, timeout=30
        )
        assert (readiness.status_code, readiness.json()["status"]) == (503, "draining")
        late = requests.post(
            f"{stack.gateway.url}/v1/audio/transcriptions",
            files={"file": ("jfk.flac", JFK.read_bytes())},
            headers={"Authorization": f"Bearer {stack.api_key}"},
            timeout=30,
        )
        assert late.status_code == 503
        assert late.json()["error"]["code"] == "shutting_down"
    except requests.ConnectionError:
        pass  # the listener was already closed: also a clean refusal
    with ThreadPoolExecutor(len(in_flight)) as pool:
        finished = list(pool.map(SlowUpload.finish, in_flight))
    assert all(status == 200 and normalize(text) == normalize(JFK_TEXT) for status, text in finished)
    assert stack.gateway.stop(already_signalled=True) == 0
