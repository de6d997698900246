"""Zero-downtime model rollout through Triton's model control API, under load through a real gateway: a new
version loaded beside the old, switched to and the old one unloaded with no request failing and every
transcript right; rollback likewise; a corrupted or truncated weight file refused before it loads."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from devstack.stack import Stack, local_stack
from tests.audio_files import JFK, JFK_TEXT, normalize
from triton_server.rollout import GatewayWatch, RolloutError, switch
from triton_server.versions import remove_version, stage_version, versions_on_disk
from whisper_runtime.repository import DEFAULT_MODEL, DEFAULT_REPOSITORY, VAD_DIR, ModelLayout

CLIENTS = 3


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny.en's export, hard-linked (staging copies files, so the originals are never written)."""
    root = tmp_path_factory.mktemp("rollout-repository")
    for triton_model in (*ModelLayout(DEFAULT_REPOSITORY, DEFAULT_MODEL).triton_models, VAD_DIR):
        shutil.copytree(
            DEFAULT_REPOSITORY / triton_model,
            root / triton_model,
            copy_function=lambda source, target: Path(target).hardlink_to(source),
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    return root


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


def test_rollout_and_rollback_under_load_fail_nothing_and_show_the_switch(stack: Stack, repository: Path) -> None:
    staged = stage_version(repository, DEFAULT_MODEL, "int8")
    assert staged.version == "2"
    rollout = Load(stack)
    rollout.during(lambda: _switch(stack, staged.version))
    assert rollout.failures == [] and rollout.wrong == []
    assert rollout.versions[0] == "triton/1" and rollout.versions[-1] == "triton/2"
    switched = rollout.versions.index("triton/2")
    assert rollout.versions[switched:].count("triton/1") < CLIENTS  # once switched, only requests already in flight
    assert _served_versions(stack) == {"2"}

    rollback = Load(stack)
    rollback.during(lambda: _switch(stack, "1"))
    assert rollback.failures == [] and rollback.wrong == []
    assert rollback.versions[0] == "triton/2" and rollback.versions[-1] == "triton/1"
    remove_version(staged)
    assert versions_on_disk(staged) == [1]


@pytest.mark.parametrize("damage", ["flipped byte", "truncated"])
def test_a_damaged_weight_file_is_refused_naming_it_and_nothing_fails(
    stack: Stack, repository: Path, damage: str
) -> None:
    staged = stage_version(repository, DEFAULT_MODEL, "int8")
    damaged = staged.decoder("int8")
    data = bytearray(damaged.read_bytes())
    if damage == "truncated":
        del data[len(data) // 2 :]
    else:
        data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    load = Load(stack)
    refusals: list[str] = []

    def attempt() -> None:
        with pytest.raises(RolloutError) as refused:
            _switch(stack, staged.version)
        refusals.append(str(refused.value))

    try:
        load.during(attempt)
    finally:
        remove_version(staged)
    assert str(damaged) in refusals[0] and "serving: 1" in refusals[0]
    assert load.failures == [] and load.wrong == [] and set(load.versions) == {"triton/1"}
    labels = f'endpoint="{stack.triton.settings.grpc_url}",model="{DEFAULT_MODEL}"'
    refused = f"dattavani_triton_model_versions_refused{{{labels}}} 1.0"
    assert _eventually(lambda: refused in _metrics(stack)), "the refusal must show in the gateway's metrics (alert)"


def _metrics(stack: Stack) -> str:
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    return requests.get(f"{stack.gateway.url}/metrics", headers=headers, timeout=10).text


def _eventually(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True
