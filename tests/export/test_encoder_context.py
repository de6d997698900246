"""The exported encoders take windows shorter than 30 s (partial text's encoder context), and a graph
without Whisper's positional table is refused rather than rewritten."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from export.encoder_context import slice_positions
from export.errors import ExportError
from whisper_runtime.repository import DEFAULT_MODEL, DEFAULT_REPOSITORY, ModelLayout


@pytest.mark.parametrize("model", [DEFAULT_MODEL, "whisper-base"])
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_the_exported_encoders_take_a_ten_second_window(model: str, precision: str) -> None:
    session = ort.InferenceSession(
        ModelLayout(DEFAULT_REPOSITORY, model).encoder(precision), providers=["CPUExecutionProvider"]
    )
    features = np.random.default_rng(1).uniform(-1.5, 1.5, (2, 80, 1000)).astype(np.float32)
    (hidden,) = session.run(None, {"input_features": features})
    assert hidden.shape[:2] == (2, 500) and np.isfinite(hidden).all()


def test_an_encoder_without_the_positional_table_is_refused() -> None:
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "x"], ["y"])],
        "no-table",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 80, 3000])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 80, 3000])],
    )
    with pytest.raises(ExportError, match="1500-position table"):
        slice_positions(helper.make_model(graph))
