"""Reload a served model with changed instance count or batching, through Triton's model control API.

The benchmark measures configurations (`--triton-config whisper_decoder.max_queue_delay_us=2000`)
without copying or editing the repository: Triton (in explicit model control mode, as the launcher
starts it) loads the model again from the configuration it serves with the changes applied.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import tritonclient.http as httpclient

# States a model passes through after a load call; the outcome is read once none is in one.
TRANSITIONAL_STATES = ("LOADING", "UNLOADING")
SETTLE_TIMEOUT_S = 120.0


def _set_instances(config: dict[str, Any], value: int) -> None:
    for group in config.setdefault("instance_group", [{}]):
        group["count"] = value


def _set_max_batch_size(config: dict[str, Any], value: int) -> None:
    config["max_batch_size"] = value
    batching = config.get("dynamic_batching")
    if batching and batching.get("preferred_batch_size"):  # Triton fills it in; none may exceed the new maximum
        batching["preferred_batch_size"] = [size for size in batching["preferred_batch_size"] if size <= value]


def _set_max_queue_delay_us(config: dict[str, Any], value: int) -> None:
    config.setdefault("dynamic_batching", {})["max_queue_delay_microseconds"] = value  # turns batching on


@dataclass(frozen=True)
class Field:
    """A configuration field an override may set: how to set it, and its smallest value."""

    apply: Callable[[dict[str, Any], int], None]
    smallest: int


FIELDS = {
    "instances": Field(_set_instances, 1),
    "max_batch_size": Field(_set_max_batch_size, 1),
    "max_queue_delay_us": Field(_set_max_queue_delay_us, 0),
}


@dataclass(frozen=True)
class ConfigOverride:
    """One change to one model: `model.field=value`."""

    model: str
    field: str
    value: int

    def __str__(self) -> str:
        return f"{self.model}.{self.field}={self.value}"


def parse_override(text: str) -> ConfigOverride:
    """`whisper-tiny.en.instances=1` -> ConfigOverride; ValueError saying what is wrong otherwise."""
    target, sep, raw = text.partition("=")
    model, dot, field = target.strip().rpartition(".")
    if not sep or not dot or not model:
        raise ValueError(f"{text!r}: expected MODEL.FIELD=VALUE, e.g. whisper-tiny.en.instances=1")
    if field not in FIELDS:
        raise ValueError(f"{text!r}: {field!r} is not one of {', '.join(FIELDS)}")
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{text!r}: {raw!r} is not an integer") from None
    if value < FIELDS[field].smallest:
        raise ValueError(f"{text!r}: {field} must be at least {FIELDS[field].smallest}")
    return ConfigOverride(model, field, value)


def parse_overrides(text: str) -> list[ConfigOverride]:
    """A comma-separated list of overrides (empty text: none)."""
    return [parse_override(part) for part in text.split(",") if part.strip()]


class ModelControlError(RuntimeError):
    """Triton took the changes but a model that served before, or one that was changed, no longer does."""


def _model_states(client: httpclient.InferenceServerClient) -> dict[str, str]:
    """Every model in the repository index by name: "" when ready, else Triton's state and reason."""
    return {
        entry["name"]: "" if entry.get("state") == "READY" else f"{entry.get('state')}: {entry.get('reason', '')}"
        for entry in client.get_model_repository_index()
    }


def _settled_states(client: httpclient.InferenceServerClient, timeout_s: float) -> dict[str, str]:
    """`_model_states` once no model is still LOADING or UNLOADING (Triton unloads an ensemble that no
    longer fits after the load call has returned; a slow host was seen mid-UNLOADING), or at `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        states = _model_states(client)
        moving = any(state.startswith(TRANSITIONAL_STATES) for state in states.values())
        if not moving or time.monotonic() > deadline:
            return states
        time.sleep(0.1)


def apply_overrides(http_url: str, overrides: Sequence[ConfigOverride]) -> dict[str, dict[str, Any]]:
    """Reload each model named in `overrides` on the Triton at `http_url` (host:port), in order, with its
    changes; returns the configurations now served. An ensemble is reloaded by Triton when a model in
    it is, and unloaded when the new configuration does not fit it (a composing model's max_batch_size
    below the ensemble's): that raises ModelControlError naming the model and its state. A load
    Triton refuses raises tritonclient's InferenceServerException."""
    client = httpclient.InferenceServerClient(http_url)
    try:
        before = _model_states(client)
        changed = list(dict.fromkeys(override.model for override in overrides))
        # Read first: reloading a composing model may unload the ensemble before its turn comes.
        configs = {model: client.get_model_config(model) for model in changed}
        for model, config in configs.items():
            for override in (o for o in overrides if o.model == model):
                FIELDS[override.field].apply(config, override.value)
            client.load_model(model, config=json.dumps(config))
        after = _settled_states(client, SETTLE_TIMEOUT_S)
        expected = [name for name, state in before.items() if not state] + changed
        broken = {name: after.get(name, "not in the repository") for name in dict.fromkeys(expected)}
        broken = {name: state for name, state in broken.items() if state}
        if broken:
            details = "; ".join(f"{name} ({state})" for name, state in broken.items())
            raise ModelControlError(
                f"after {', '.join(map(str, overrides))}, not serving: {details}; Triton's log says why "
                "(an ensemble is unloaded when a model in it allows a smaller max_batch_size than it does)"
            )
        return {model: client.get_model_config(model) for model in changed}
    finally:
        client.close()
