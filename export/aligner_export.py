"""ONNX export of the aligner: the decoder's cross-attention in the model's alignment heads, for word times.

aligner_model.onnx: input_ids (batch, tokens), encoder_hidden_states (batch, 1500, d_model) ->
cross_attention (batch, alignment heads, tokens, 1500), the attention probabilities of the heads
that the CTranslate2 config lists as `alignment_heads` ([layer, head] pairs). Only the decoder
layers up to the last of those heads are kept, and no logits are computed.
"""

from __future__ import annotations

from pathlib import Path

from export.errors import InvalidSourceError
from whisper_runtime.repository import ALIGNER_FILE

CROSS_ATTENTION = "cross_attention"


def alignment_heads(checkpoint: Path) -> list[tuple[int, int]]:
    """The (layer, head) pairs of the checkpoint's alignment heads, from its generation config."""
    from transformers import GenerationConfig

    generation = GenerationConfig.from_pretrained(checkpoint, local_files_only=True)  # nosec B615
    heads = getattr(generation, "alignment_heads", None)
    if not heads:
        raise InvalidSourceError(f"{checkpoint} lists no alignment_heads: word timestamps need them")
    return [(int(layer), int(head)) for layer, head in heads]


def export_aligner(checkpoint: Path, output: Path) -> Path:
    """Write `output`/aligner_model.onnx (fp32) for `checkpoint`."""
    import torch
    from transformers import WhisperForConditionalGeneration

    heads = alignment_heads(checkpoint)
    model = WhisperForConditionalGeneration.from_pretrained(  # nosec B615  # a local checkpoint (local_files_only)
        checkpoint, local_files_only=True, attn_implementation="eager"
    ).eval()
    decoder = model.model.decoder
    decoder.layers = decoder.layers[: max(layer for layer, _ in heads) + 1]

    class Aligner(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.decoder = decoder

        def forward(self, input_ids: torch.Tensor, encoder_hidden_states: torch.Tensor) -> torch.Tensor:
            tokens = input_ids.shape[1]
            causal = torch.full((tokens, tokens), float("-inf")).triu(1)[None, None]  # a 4-D mask is used as given
            output = self.decoder(
                input_ids=input_ids,
                attention_mask=causal.expand(input_ids.shape[0], 1, tokens, tokens),
                encoder_hidden_states=encoder_hidden_states,
                output_attentions=True,
                use_cache=False,
                return_dict=True,
            )
            return torch.stack([output.cross_attentions[layer][:, head] for layer, head in heads], dim=1)

    d_model = model.config.d_model
    example = (
        torch.tensor([[model.config.decoder_start_token_id] * 4]),
        torch.zeros(1, model.config.max_source_positions, d_model),
    )
    path = output / ALIGNER_FILE
    output.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            Aligner(),
            example,
            str(path),
            input_names=["input_ids", "encoder_hidden_states"],
            output_names=[CROSS_ATTENTION],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "encoder_hidden_states": {0: "batch"},
                CROSS_ATTENTION: {0: "batch", 2: "tokens"},
            },
            opset_version=17,
            dynamo=False,
        )
    return path
