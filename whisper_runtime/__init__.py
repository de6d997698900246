"""Whisper runtime over ONNX Runtime: features, tokenizer, batched decoding, engine.

Importable by every caller (Triton models, gateway fallback, benchmarks, export verification);
it contains no web or Triton code.
"""
