"""Zero-downtime model rollout through Triton's model control API, under load through a real gateway: a new
version loaded beside the old, switched to and the old one unloaded with no request failing and every
transcript right; rollback likewise; a corrupted or truncated weight file refused before it loads."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from devstack.stack import Stack, local_stack
from perf.scaleout import linked_repository_copy
from tests.audio_files import JFK, JFK_TEXT, normalize
from triton_server.rollout import GatewayWatch, RolloutError, switch
from triton_server.versions import remove_version, stage_version, versions_on_disk
from whisper_runtime.repository import DEFAULT_MODEL, DEFAULT_REPOSITORY, ModelLayout

CLIENTS = 3


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny.en's export, hard-linked (staging copies files, so the originals are never written)."""
    return linked_repository_copy(DEFAULT_REPOSITORY, DEFAULT_MODEL, tmp_path_factory.mktemp("rollout") / "repository")


@pytest.fixture(scope="module")
def stack(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {"DATTAVANI_CANARY_INTERVAL_S": "1", "DATTAVANI_BACKENDS": "triton"}  # no fallback to hide a failure
    workdir = tmp_path_factory.mktemp("rollout-stack")
    with local_stack(workdir, models=(DEFAULT_MODEL,), gateway_env=env, repository=repository) as running:
        yield running


@dataclass
class Load:
    """CLIENTS clients transcribing jfk.flac through the gateway until stopped."""

    stack: Stack
    failures: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)  # X-Model-Version of each answer, in order
    wrong: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def client(self) -> None:
        audio = JFK.read_bytes()
        with requests.Session() as session:
            while not self._stop.is_set():
                response = session.post(
                    f"{self.stack.gateway.url}/v1/audio/transcriptions",
                    files={"file": ("jfk.flac", audio)},
                    headers={"Authorization": f"Bearer {self.stack.api_key}"},
                    timeout=120,
                )
                if response.status_code != 200:
                    self.failures.append(f"{response.status_code} {response.text}")
                    continue
                self.versions.append(response.headers["X-Model-Version"])
                if normalize(response.json()["text"]) != normalize(JFK_TEXT):
                    self.wrong.append(response.json()["text"])

    def during(self, action: Callable[[], None]) -> None:
        threads = [threading.Thread(target=self.client) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        try:
            action()
        finally:
            self._stop.set()
            for thread in threads:
                thread.join()


def _switch(stack: Stack, version: str) -> None:
    watch = GatewayWatch(stack.gateway.url, stack.api_key)
    switch([stack.triton.settings.http_url], DEFAULT_MODEL, version, [watch], log=lambda _: None)


def _served_versions(stack: Stack) -> set[str]:
    return GatewayWatch(stack.gateway.url, stack.api_key).versions(DEFAULT_MODEL)


@pytest.mark.parametrize(("damage", "refused_before"), [("flipped byte", 0), ("truncated", 1)])
def test_a_damaged_weight_file_is_refused_naming_it_and_nothing_fails(
    stack: Stack, repository: Path, damage: str, refused_before: int
) -> None:
    """Each damaged version stays on disk (the next rollout replaces it), so each refusal has a number of its own
    and the gateway's gauge must count each one."""
    staged = stage_version(repository, DEFAULT_MODEL, "int8")
    damaged = staged.decoder("int8")
    data = bytearray(damaged.read_bytes())
    if damage == "truncated":
        del data[len(data) // 2 :]
    else:
        data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    assert _refused_gauge(stack) == refused_before
    load = Load(stack)
    refusals: list[str] = []

    def attempt() -> None:
        with pytest.raises(RolloutError) as refused:
            _switch(stack, staged.version)
        refusals.append(str(refused.value))

    load.during(attempt)
    assert str(damaged) in refusals[0] and "serving: 1" in refusals[0]
    assert load.failures == [] and load.wrong == [] and set(load.versions) == {"triton/1"}
    counted = _eventually(lambda: _refused_gauge(stack) == refused_before + 1)
    assert counted, "the refusal must show in the gateway's metrics (alert)"


def test_rollout_and_rollback_under_load_fail_nothing_and_show_the_switch(stack: Stack, repository: Path) -> None:
    """Rolled out above the damaged versions left by the test before (if it ran): their refusals are over."""
    staged = stage_version(repository, DEFAULT_MODEL, "int8")
    rollout = Load(stack)
    rollout.during(lambda: _switch(stack, staged.version))
    assert rollout.failures == [] and rollout.wrong == []
    served = f"triton/{staged.version}"
    assert rollout.versions[0] == "triton/1" and rollout.versions[-1] == served
    switched = rollout.versions.index(served)
    assert rollout.versions[switched:].count("triton/1") < CLIENTS  # once switched, only requests already in flight
    assert _served_versions(stack) == {staged.version}
    assert _eventually(lambda: _refused_gauge(stack) == 0), "a refused version below the one serving is done"

    rollback = Load(stack)
    rollback.during(lambda: _switch(stack, "1"))
    assert rollback.failures == [] and rollback.wrong == []
    assert rollback.versions[0] == served and rollback.versions[-1] == "triton/1"
    for version in versions_on_disk(staged)[1:]:
        remove_version(ModelLayout(repository, DEFAULT_MODEL, str(version)))
    assert versions_on_disk(staged) == [1]


def _refused_gauge(stack: Stack) -> float:
    """The gateway's dattavani_triton_model_versions_refused for tiny.en on the stack's Triton."""
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    text = requests.get(f"{stack.gateway.url}/metrics", headers=headers, timeout=10).text
    labels = f'endpoint="{stack.triton.settings.grpc_url}",model="{DEFAULT_MODEL}"'
    (value,) = re.findall(rf"^dattavani_triton_model_versions_refused\{{{labels}\}} (\S+)$", text, re.MULTILINE)
    return float(value)


def _eventually(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True
