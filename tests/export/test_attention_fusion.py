"""The encoder's attention fusion: the exact pattern optimum exports becomes one MultiHeadAttention that
computes the same; anything else is left alone; the real export fuses every encoder layer."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from export.attention_fusion import fuse_self_attention
from whisper_runtime.repository import DEFAULT_MODEL, DEFAULT_REPOSITORY, ModelLayout

SEQUENCE, D_MODEL, HEADS = 50, 32, 4
HEAD = D_MODEL // HEADS


def _attention_graph(masked: bool = False) -> onnx.ModelProto:
    """One attention block written the way optimum exports PyTorch's scaled dot product attention."""
    rng = np.random.default_rng(7)

    def weight(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32) * 0.3, name)

    def constant(name: str, value: np.ndarray) -> onnx.TensorProto:
        return numpy_helper.from_array(np.asarray(value), name)

    initializers = [
        *(weight(f"W{p}", D_MODEL, D_MODEL) for p in "qkvo"), weight("bq", D_MODEL), weight("bv", D_MODEL),
        constant("heads", np.array([1, SEQUENCE, HEADS, HEAD], dtype=np.int64)),
        constant("merged", np.array([1, SEQUENCE, D_MODEL], dtype=np.int64)),
        constant("c", np.array(1.0, dtype=np.float32)),
        constant("root_scale", np.array(HEAD**-0.25, dtype=np.float32)),
        constant("mask", np.zeros((SEQUENCE, SEQUENCE), dtype=np.float32)),
    ]  # fmt: skip
    node = helper.make_node
    nodes = [
        node("MatMul", ["x", "Wq"], ["q0"]), node("Add", ["bq", "q0"], ["q1"]), node("Mul", ["q1", "c"], ["q"]),
        node("Reshape", ["q", "heads"], ["q4"]), node("Transpose", ["q4"], ["qt"], perm=[0, 2, 1, 3]),
        node("Mul", ["qt", "root_scale"], ["Q"]),
        node("MatMul", ["x", "Wk"], ["k"]), node("Reshape", ["k", "heads"], ["k4"]),
        node("Transpose", ["k4"], ["kt"], perm=[0, 2, 3, 1]), node("Mul", ["kt", "root_scale"], ["K"]),
        node("MatMul", ["x", "Wv"], ["v0"]), node("Add", ["bv", "v0"], ["v"]), node("Reshape", ["v", "heads"], ["v4"]),
        node("Transpose", ["v4"], ["V"], perm=[0, 2, 1, 3]),
        node("MatMul", ["Q", "K"], ["scores"]),
        *([node("Add", ["scores", "mask"], ["masked"])] if masked else []),
        node("Softmax", ["masked" if masked else "scores"], ["p"], axis=-1), node("MatMul", ["p", "V"], ["a"]),
        node("Transpose", ["a"], ["at"], perm=[0, 2, 1, 3]), node("Reshape", ["at", "merged"], ["attended"]),
        node("MatMul", ["attended", "Wo"], ["y"]),
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes,
        "attention",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, SEQUENCE, D_MODEL])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, SEQUENCE, D_MODEL])],
        initializer=initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_the_exported_pattern_becomes_one_multi_head_attention_with_the_same_result() -> None:
    model = _attention_graph()
    x = np.random.default_rng(3).standard_normal((1, SEQUENCE, D_MODEL)).astype(np.float32)
    expected = _run(model, x)
    assert fuse_self_attention(model, HEADS) == 1
    onnx.checker.check_model(model)
    ops = [node.op_type for node in model.graph.node]
    assert ops.count("MultiHeadAttention") == 1 and "Softmax" not in ops and "Transpose" not in ops
    np.testing.assert_allclose(_run(model, x), expected, atol=1e-5)


def test_an_attention_with_anything_between_its_steps_is_left_alone() -> None:
    model = _attention_graph(masked=True)
    before = model.SerializeToString()
    assert fuse_self_attention(model, HEADS) == 0
    assert model.SerializeToString() == before


@pytest.mark.parametrize(("model", "layers"), [(DEFAULT_MODEL, 4), ("whisper-base", 6)])
def test_the_exported_encoders_run_every_layer_through_multi_head_attention(model: str, layers: int) -> None:
    layout = ModelLayout(DEFAULT_REPOSITORY, model)
    for precision in ("fp32", "int8"):
        ops = [node.op_type for node in onnx.load(layout.encoder(precision), load_external_data=False).graph.node]
        assert ops.count("MultiHeadAttention") == layers and "Softmax" not in ops, precision
