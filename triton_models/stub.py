"""Glue shared by our Triton python-backend models: tensors in, a batch run, responses out.

Imported only inside Triton's python stub, where `triton_python_backend_utils` exists; the tensors
themselves are `triton_models.contract`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import triton_python_backend_utils as pb_utils

from triton_models import contract
from triton_models.settings import ModelSettings
from whisper_runtime.batching import rows_by_key
from whisper_runtime.errors import InvalidInputError
from whisper_runtime.prompts import PromptRules
from whisper_runtime.window_decoder import WindowRequest

Parsed = TypeVar("Parsed")
Outputs = dict[str, np.ndarray]


class PrecisionGauge:
    """The series saying on Triton's metrics port which precision a loaded version runs: 1 from `initialize`
    until `finalize` removes it (Triton keeps a series the model does not remove, even once it is unloaded)."""

    def __init__(self, settings: ModelSettings) -> None:
        self._family = pb_utils.MetricFamily(
            name=contract.PRECISION_METRIC,
            description="1 for the precision each loaded version of a Whisper model runs in (int8 or fp32).",
            kind=pb_utils.MetricFamily.GAUGE,
        )
        labels = (settings.whisper_model, settings.version, settings.engine.precision)
        self._metric: Any = self._family.Metric(labels=dict(zip(contract.PRECISION_LABELS, labels, strict=True)))
        self._metric.set(1)

    def remove(self) -> None:
        """Remove the series (the metric first: Triton refuses to delete a family whose metrics remain)."""
        self._metric = None
        self._family = None


def input_array(request: Any, name: str) -> np.ndarray | None:
    """The named input of one request as numpy (None if the optional input was not sent)."""
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return None if tensor is None else tensor.as_numpy()


def required_array(request: Any, name: str) -> np.ndarray:
    """A required input of one request as numpy (Triton refuses requests without it)."""
    array = input_array(request, name)
    if array is None:
        raise InvalidInputError(f"input {name} is missing")
    return array


def request_clips(request: Any) -> list[np.ndarray]:
    """The clips of one request (WAV, cut to WAV_LENS when sent)."""
    return contract.read_clips(required_array(request, contract.WAV), input_array(request, contract.WAV_LENS))


def request_windows(request: Any, frames: list[int], rules: PromptRules) -> list[WindowRequest]:
    """What each row of one request asks (`frames`: its mel frames of audio), checked; defaults where the
    optional inputs were not sent."""
    names = (contract.PROMPT, contract.TEMPERATURE, contract.SEED, contract.WORD_TIMESTAMPS, contract.PARTIAL)
    return contract.read_requests({name: input_array(request, name) for name in names}, len(frames), frames, rules)


def execute_batch(
    requests: Sequence[Any],
    parse: Callable[[Any], list[Parsed]],
    run: Callable[[list[Parsed]], Outputs],
    width: Callable[[Parsed], int] | None = None,
) -> list[Any]:
    """Parse every request into its batch rows, run the valid rows at once, answer each request.

    `run` returns arrays whose first axis follows the rows it was given. With `width` (of a row's window),
    rows run once per width, and a request whose rows differ in it is refused. A request that fails to
    parse gets its own error response; the others are unaffected.
    """
    responses: list[Any] = [None] * len(requests)
    accepted: list[tuple[int, list[Parsed]]] = []  # (request index, its rows)
    for index, request in enumerate(requests):
        try:
            parsed = parse(request)
            if width is not None and len({width(row) for row in parsed}) > 1:
                raise InvalidInputError(
                    "the rows of one request must have windows of one width here: send partial hypotheses "
                    "(and rows of other lengths) as requests of their own"
                )
        except InvalidInputError as exc:
            responses[index] = pb_utils.InferenceResponse(error=pb_utils.TritonError(f"{exc.code}: {exc}"))
            continue
        accepted.append((index, parsed))
    keys = [width(parsed[0]) if width is not None and parsed else 0 for _, parsed in accepted]
    for members in rows_by_key(keys).values():
        rows: list[Parsed] = []
        spans: list[tuple[int, int, int]] = []  # (request index, first row, end row)
        for index, parsed in (accepted[member] for member in members):
            spans.append((index, len(rows), len(rows) + len(parsed)))
            rows.extend(parsed)
        outputs = run(rows)
        for index, start, end in spans:
            responses[index] = pb_utils.InferenceResponse(
                output_tensors=[pb_utils.Tensor(name, value[start:end]) for name, value in outputs.items()]
            )
    return responses
