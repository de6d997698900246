"""Zero-downtime model rollout and rollback through Triton's model control API (fused profile).

`python -m triton_server.rollout stage|switch|rollout|rollback ...`:
- stage: copy an export's files of one precision into a new version directory (triton_server.versions).
- switch: on each Triton, (1) load the target version beside the one serving, with the model's
  `serving_version` parameter naming it (Triton keeps the old one serving while it loads; a version
  whose weight file fails its checksum is refused by the model itself, before ONNX Runtime opens it,
  and the old one goes on serving); (2) wait until the gateways serve it (they switch once it answers
  their canary: `--gateway` watches their readiness, else `--switch-wait-s` passes); (3) load the target
  alone, so Triton unloads the others once their requests in flight have finished.
- rollout: stage, then switch to the new version. rollback: switch to an earlier version still on
  disk, then delete the versions above it (a restarted Triton loads the highest version on disk).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from triton_server.model_control import SETTLE_TIMEOUT_S, TRANSITIONAL_STATES
from triton_server.versions import (
    SERVING_VERSION_PARAMETER,
    StagingError,
    remove_version,
    stage_version,
    versions_on_disk,
)
from whisper_runtime.repository import DEFAULT_MODEL, DEFAULT_REPOSITORY, PRECISIONS, ModelLayout

DEFAULT_SWITCH_WAIT_S = 15.0  # three of the gateway's default canary intervals


class RolloutError(RuntimeError):
    """A switch could not be made; the version serving before goes on serving."""


@dataclass(frozen=True)
class GatewayWatch:
    """A gateway whose readiness report shows which version each of its Triton endpoints serves."""

    url: str
    api_key: str

    def versions(self, model: str) -> set[str]:
        request = urllib.request.Request(  # noqa: S310  # nosec B310 (an operator-given URL)
            f"{self.url.rstrip('/')}/health/ready", headers={"Authorization": f"Bearer {self.api_key}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310  # nosec B310
                body = json.load(response)
        except urllib.error.HTTPError as exc:  # 503 still carries the report
            body = json.load(exc)
        endpoints = body["models"][model]["backends"].get("triton", {}).get("endpoints", {})
        return {str(state["version"]) for state in endpoints.values() if state["status"] == "ok"}


def _policy(config: dict[str, Any], versions: Sequence[str], serving: str) -> str:
    config = dict(config)
    config["version_policy"] = {"specific": {"versions": [int(version) for version in versions]}}
    config["parameters"] = {**config.get("parameters", {}), SERVING_VERSION_PARAMETER: {"string_value": serving}}
    return json.dumps(config)


def _ready_versions(client: httpclient.InferenceServerClient, model: str) -> list[str]:
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        entries = [e for e in client.get_model_repository_index() if e["name"] == model and e.get("version")]
        if not any(e.get("state") in TRANSITIONAL_STATES for e in entries) or time.monotonic() > deadline:
            return sorted((e["version"] for e in entries if e.get("state") == "READY"), key=int)
        time.sleep(0.2)


def switch(
    tritons: Sequence[str],
    model: str,
    version: str,
    gateways: Sequence[GatewayWatch] = (),
    switch_wait_s: float = DEFAULT_SWITCH_WAIT_S,
    log: Any = print,
) -> None:
    """Make `version` of `model` the only one served by every Triton in `tritons` (HTTP host:port), with no
    request failing on the way; RolloutError (the old version still serving) when a Triton refuses it."""
    clients = [httpclient.InferenceServerClient(url) for url in tritons]
    try:
        for url, client in zip(tritons, clients, strict=True):
            config = client.get_model_config(model)
            if config.get("platform") == "ensemble":
                raise RolloutError(f"{model} on {url} is the pipeline ensemble: roll it out by restarting Triton")
            serving = _ready_versions(client, model)
            log(f"{url}: {model} serves version(s) {', '.join(serving) or 'none'}; loading version {version} beside")
            try:
                client.load_model(model, config=_policy(config, sorted({*serving, version}, key=int), version))
            except InferenceServerException as exc:
                still = ", ".join(_ready_versions(client, model)) or "none"
                raise RolloutError(
                    f"{url} refused version {version} of {model}: {exc.message()} (serving: {still})"
                ) from exc
        _wait_for_gateways(gateways, model, version, switch_wait_s, log)
        for url, client in zip(tritons, clients, strict=True):
            client.load_model(model, config=_policy(client.get_model_config(model), [version], version))
            log(f"{url}: {model} now serves version(s) {', '.join(_ready_versions(client, model))}")
    finally:
        for client in clients:
            client.close()


def _wait_for_gateways(
    gateways: Sequence[GatewayWatch], model: str, version: str, switch_wait_s: float, log: Any
) -> None:
    if not gateways:
        log(f"waiting {switch_wait_s:.0f} s for the gateways to switch to version {version}")
        time.sleep(switch_wait_s)
        return
    deadline = time.monotonic() + max(switch_wait_s, 60.0)
    while any(gateway.versions(model) != {version} for gateway in gateways):
        if time.monotonic() > deadline:
            raise RolloutError(f"the gateways did not switch to version {version} of {model} in time")
        time.sleep(0.5)
    log(f"every gateway serves version {version}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m triton_server.rollout", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("action", choices=("stage", "switch", "rollout", "rollback"))
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--repository", type=Path, default=DEFAULT_REPOSITORY)
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32", help="what a staged version serves")
    parser.add_argument("--source", type=Path, help="the export to stage from (default: the repository's own)")
    parser.add_argument("--version", help="switch/rollback: the version to serve (rollback: default the one below)")
    parser.add_argument("--triton", action="append", help="Triton HTTP host:port (repeatable)")
    parser.add_argument("--gateway", action="append", default=[], help="gateway URL to watch switch (repeatable)")
    parser.add_argument("--api-key", default="", help="the key the gateways' readiness report needs")
    parser.add_argument("--switch-wait-s", type=float, default=DEFAULT_SWITCH_WAIT_S)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    layout = ModelLayout(args.repository, args.model)
    tritons = args.triton or ["127.0.0.1:8000"]
    gateways = [GatewayWatch(url, args.api_key) for url in args.gateway]
    try:
        if args.action in ("stage", "rollout"):
            staged = stage_version(args.repository, args.model, args.precision, args.source)
            print(f"staged version {staged.version} of {args.model} ({args.precision})")
            if args.action == "stage":
                return 0
            switch(tritons, args.model, staged.version, gateways, args.switch_wait_s)
        elif args.action == "switch":
            switch(tritons, args.model, args.version, gateways, args.switch_wait_s)
        else:
            on_disk = versions_on_disk(layout)
            version = args.version or str(on_disk[-2] if len(on_disk) > 1 else on_disk[-1])
            switch(tritons, args.model, version, gateways, args.switch_wait_s)
            for newer in (v for v in on_disk if v > int(version)):
                remove_version(ModelLayout(args.repository, args.model, str(newer)))
                print(f"removed version {newer} of {args.model}")
    except (RolloutError, StagingError, InferenceServerException, OSError) as exc:
        print(f"rollout: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
