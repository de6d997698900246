"""Fuse the encoder's self-attention into ONNX Runtime's `MultiHeadAttention` operator.

The exported encoder computes each head's attention as MatMul -> Softmax -> MatMul over 1500 x
1500 scores, written out to memory between the steps; that is about two thirds of the int8
encoder's time on a CPU. `com.microsoft.MultiHeadAttention` computes the same in tiles that
stay in the cache (ONNX Runtime's CPU flash attention; fused kernels on CUDA).

Matched per layer (optimum's export of PyTorch's scaled dot product attention):

    q = Mul(Add(bias, MatMul(x, Wq)), c)        k = MatMul(x, Wk)       v = Add(bias, MatMul(x, Wv))
    Q = Mul(Transpose(Reshape(q), 0213), a)     K = Mul(Transpose(Reshape(k), 0231), b)
    out = Reshape(Transpose(MatMul(Softmax(MatMul(Q, K)), Transpose(Reshape(v), 0213)), 0213))

and replaced by `out = MultiHeadAttention(q, k, v, num_heads, scale=a*b)`. Anything that does not
match exactly is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from export.errors import ExportError, VerificationError
from whisper_runtime.audio import N_FRAMES

MICROSOFT_DOMAIN = "com.microsoft"
HEADS_FIRST = [0, 2, 1, 3]
KEYS_TRANSPOSED = [0, 2, 3, 1]


@dataclass(frozen=True)
class _Graph:
    producers: dict[str, onnx.NodeProto]
    constants: dict[str, np.ndarray]

    @classmethod
    def of(cls, graph: onnx.GraphProto) -> _Graph:
        constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
        for node in graph.node:
            if node.op_type == "Constant" and node.attribute[0].name == "value":
                constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        return cls({output: node for node in graph.node for output in node.output}, constants)

    def node(self, name: str, op_type: str) -> onnx.NodeProto | None:
        node = self.producers.get(name)
        return node if node is not None and node.op_type == op_type else None

    def scalar(self, name: str) -> float | None:
        value = self.constants.get(name)
        return float(value) if value is not None and value.size == 1 else None

    def scaled(self, name: str) -> tuple[str, float]:
        """(the input of a Mul by a scalar constant, the scalar), or (`name`, 1.0) without one."""
        mul = self.node(name, "Mul")
        if mul is not None:
            for operand, other in ((0, 1), (1, 0)):
                factor = self.scalar(mul.input[other])
                if factor is not None:
                    return mul.input[operand], factor
        return name, 1.0

    def heads(self, name: str, perm: list[int]) -> str | None:
        """The (batch, sequence, d_model) tensor that Reshape -> Transpose(`perm`) split into heads."""
        transpose = self.node(name, "Transpose")
        if transpose is None or list(helper.get_attribute_value(transpose.attribute[0])) != perm:
            return None
        reshape = self.node(transpose.input[0], "Reshape")
        return None if reshape is None else reshape.input[0]


def _match(
    graph: _Graph, softmax: onnx.NodeProto, consumers: dict[str, list[onnx.NodeProto]]
) -> tuple[str, str, str, str, float] | None:
    """(query, key, value, output, scale) of the attention around `softmax`, or None."""
    scores = graph.node(softmax.input[0], "MatMul")
    after = consumers.get(softmax.output[0], [])
    if scores is None or len(after) != 1 or after[0].op_type != "MatMul" or after[0].input[0] != softmax.output[0]:
        return None
    query_heads, query_scale = graph.scaled(scores.input[0])
    key_heads, key_scale = graph.scaled(scores.input[1])
    query = graph.heads(query_heads, HEADS_FIRST)
    key = graph.heads(key_heads, KEYS_TRANSPOSED)
    value = graph.heads(after[0].input[1], HEADS_FIRST)
    merge = consumers.get(after[0].output[0], [])
    if query is None or key is None or value is None or len(merge) != 1 or merge[0].op_type != "Transpose":
        return None
    if list(helper.get_attribute_value(merge[0].attribute[0])) != HEADS_FIRST:
        return None
    output = consumers.get(merge[0].output[0], [])
    if len(output) != 1 or output[0].op_type != "Reshape":
        return None
    return query, key, value, output[0].output[0], query_scale * key_scale


def _prune(graph: onnx.GraphProto) -> None:
    """Drop nodes whose outputs nothing uses any more."""
    while True:
        used = {name for node in graph.node for name in node.input} | {output.name for output in graph.output}
        dead = [node for node in graph.node if not any(output in used for output in node.output)]
        if not dead:
            return
        for node in dead:
            graph.node.remove(node)


def fuse_self_attention(model: onnx.ModelProto, num_heads: int) -> int:
    """Replace each matched attention block of `model` by MultiHeadAttention; returns how many.

    Each fused node takes the place of the Reshape that produced the block's output, so the graph
    stays in topological order.
    """
    graph = model.graph
    view = _Graph.of(graph)
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    position = {output: index for index, node in enumerate(graph.node) for output in node.output}
    fused = 0
    for softmax in [node for node in graph.node if node.op_type == "Softmax"]:
        matched = _match(view, softmax, consumers)
        if matched is None:
            continue
        query, key, value, output, scale = matched
        attention = helper.make_node(
            "MultiHeadAttention",
            [query, key, value],
            [output],
            name=f"{softmax.name}/MultiHeadAttention",
            domain=MICROSOFT_DOMAIN,
            num_heads=num_heads,
            scale=scale,
        )
        graph.node[position[output]].CopyFrom(attention)
        # ONNX's shape inference knows no com.microsoft operator: say what the output is (the quantizer asks).
        graph.value_info.append(helper.make_tensor_value_info(output, onnx.TensorProto.FLOAT, None))
        fused += 1
    if fused:
        _prune(graph)
        if not any(opset.domain == MICROSOFT_DOMAIN for opset in model.opset_import):
            model.opset_import.append(helper.make_opsetid(MICROSOFT_DOMAIN, 1))
    return fused


# The fused encoder must give the exported one's hidden states to within this (fp32 reordering only).
FUSION_TOLERANCE = 1e-3


def fuse_encoder_attention(encoder: Path, checkpoint: Path) -> int:
    """Fuse every self-attention layer of the exported `encoder` file in place, with the head count of
    the Hugging Face `checkpoint`. ExportError if a layer did not match (the export changed shape),
    VerificationError if the fused encoder computes something else."""
    from transformers import WhisperConfig

    config = WhisperConfig.from_pretrained(checkpoint, local_files_only=True)  # nosec B615
    model = onnx.load(encoder)
    exported = model.SerializeToString()
    fused = fuse_self_attention(model, config.encoder_attention_heads)
    if fused != config.encoder_layers:
        raise ExportError(f"fused {fused} of the encoder's {config.encoder_layers} attention layers in {encoder}")
    onnx.checker.check_model(model)
    deviation = encoder_deviation(model.SerializeToString(), exported, probe_features(config.num_mel_bins))
    if deviation > FUSION_TOLERANCE:
        raise VerificationError(f"the fused encoder deviates by {deviation:.2g} from the exported one")
    onnx.save(model, encoder)
    return fused


def probe_features(n_mels: int) -> np.ndarray:
    """Seeded random features of one 30 s window: what a rewritten encoder is checked on."""
    return np.random.default_rng(0).uniform(-1.5, 1.5, (1, n_mels, N_FRAMES)).astype(np.float32)


def encoder_deviation(model: bytes, reference: bytes, features: np.ndarray) -> float:
    """The largest difference between the hidden states of two serialized encoders for `features`."""
    return float(np.abs(encode_with(model, features) - encode_with(reference, features)).max())


def encode_with(model: bytes, features: np.ndarray) -> np.ndarray:
    """The hidden states of serialized encoder `model` for `features`, on ONNX Runtime's CPU provider."""
    import onnxruntime as ort

    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    (hidden,) = session.run(None, {session.get_inputs()[0].name: features})
    return hidden
