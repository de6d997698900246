"""Export pipeline: Whisper weights -> ONNX (fp32, int8) -> Triton model repository."""
