"""Dynamic int8 quantization of the exported ONNX models."""

from __future__ import annotations

import tempfile
from pathlib import Path

import onnx
from onnx import numpy_helper


def untie_transposed_weights(model: onnx.ModelProto) -> int:
    """Give each MatMul fed by `Transpose(initializer)` its own transposed initializer.

    The exporter stores the tied token embedding once and feeds the logits MatMul through a
    Transpose. The quantizer only quantizes MatMuls whose weight is an initializer, and a shared
    quantized embedding would be dequantized whole on every decoding step; so the output
    projection gets its own copy, quantized on its own. Returns the number of MatMuls changed.
    """
    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    producers = {output: node for node in graph.node for output in node.output}
    changed = 0
    for node in graph.node:
        if node.op_type != "MatMul":
            continue
        transpose = producers.get(node.input[1])
        if transpose is None or transpose.op_type != "Transpose" or transpose.input[0] not in initializers:
            continue
        perm = next((list(a.ints) for a in transpose.attribute if a.name == "perm"), None)
        weight = numpy_helper.to_array(initializers[transpose.input[0]]).transpose(perm)
        name = f"{transpose.input[0]}.untied_for.{node.name}"
        graph.initializer.append(numpy_helper.from_array(weight.copy(), name))
        node.input[1] = name
        changed += 1
    still_used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    for node in [n for n in graph.node if n.op_type == "Transpose" and not set(n.output) & still_used]:
        graph.node.remove(node)
    return changed


def quantize_int8(model: Path, output: Path) -> Path:
    """Dynamic int8 quantization of MatMul and Gather weights (activations stay float)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    output.parent.mkdir(parents=True, exist_ok=True)
    proto = onnx.load(model)
    with tempfile.TemporaryDirectory(prefix="dattavani-quantize-") as work:
        source = model
        if untie_transposed_weights(proto):
            source = Path(work) / model.name
            onnx.save(proto, source)
        quantize_dynamic(source, output, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gather"])
    return output
