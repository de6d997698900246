"""Let the encoder take shorter windows than Whisper's 30 s: an encoder context of any even number of mel
frames up to 3000 (whisper.cpp's `audio_ctx`), for the cheap hypotheses of live partial text.

The exported encoder adds its whole table of 1500 positional embeddings to the convolutions' output, which
pins the input to 3000 frames. Here that table is sliced to the output's length first, so a 3000-frame
window computes what it did (to within fp32 reordering: ONNX Runtime fuses the Add of a constant differently),
and a shorter one gets the first positions.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper

from export.attention_fusion import FUSION_TOLERANCE, encode_with, encoder_deviation, probe_features
from export.errors import ExportError, VerificationError
from whisper_runtime.audio import N_FRAMES

FRAMES_AXIS = "encoder_frames"
POSITIONS_AXIS = "encoder_positions"


def _positional_add(graph: onnx.GraphProto, positions: int) -> tuple[onnx.NodeProto, str, str]:
    """The Add of the positional table (positions x d_model), the table's name and the other operand's."""
    tables = {init.name for init in graph.initializer if len(init.dims) == 2 and init.dims[0] == positions}
    adds = [(node, name) for node in graph.node if node.op_type == "Add" for name in node.input if name in tables]
    if len(adds) != 1:
        raise ExportError(f"expected one Add of a {positions}-position table in the encoder, found {len(adds)}")
    node, table = adds[0]
    (other,) = [name for name in node.input if name != table]
    return node, table, other


def slice_positions(model: onnx.ModelProto) -> None:
    """Rewrite `model` (the exported encoder) in place to take any number of frames up to N_FRAMES."""
    graph = model.graph
    add, table, hidden = _positional_add(graph, N_FRAMES // 2)
    graph.initializer.extend(
        helper.make_tensor(name, TensorProto.INT64, [1], [value])
        for name, value in (("context_zero", 0), ("context_one", 1), ("context_two", 2))
    )
    slicing = [
        helper.make_node("Shape", [hidden], ["context_shape"], name="context_shape"),
        helper.make_node(
            "Slice", ["context_shape", "context_one", "context_two"], ["context_length"], name="context_length"
        ),
        helper.make_node(
            "Slice",
            [table, "context_zero", "context_length", "context_zero"],
            ["context_positions"],
            name="context_positions",
        ),
    ]
    at = list(graph.node).index(add)
    for offset, node in enumerate(slicing):
        graph.node.insert(at + offset, node)
    add.input[list(add.input).index(table)] = "context_positions"
    lengths = {N_FRAMES: FRAMES_AXIS, N_FRAMES // 2: POSITIONS_AXIS}
    for value in (*graph.input, *graph.output, *graph.value_info):  # the inferred shapes, for any window
        for dim in value.type.tensor_type.shape.dim:
            if dim.HasField("dim_value") and dim.dim_value in lengths:
                dim.dim_param = lengths[dim.dim_value]


def free_encoder_frames(encoder: Path, n_mels: int) -> None:
    """Let the exported `encoder` file take shorter windows, in place. ExportError if its graph has another
    shape; VerificationError unless a full window computes what it did and a short one runs."""
    model = onnx.load(encoder)
    exported = model.SerializeToString()
    slice_positions(model)
    onnx.checker.check_model(model)
    features = probe_features(n_mels)
    sliced = model.SerializeToString()
    deviation = encoder_deviation(sliced, exported, features)
    if deviation > FUSION_TOLERANCE:
        raise VerificationError(f"the encoder with sliced positions deviates by {deviation:.2g} on a full window")
    short = encode_with(sliced, features[:, :, : N_FRAMES // 3])
    if short.shape[1] != N_FRAMES // 6:
        raise VerificationError(f"a {N_FRAMES // 3}-frame window gave {short.shape[1]} positions")
    onnx.save(model, encoder)
