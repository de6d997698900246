"""An exported model's spec and tokenizer: what every caller reads before it decodes with that model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from whisper_runtime.model_spec import ModelSpec
from whisper_runtime.repository import ModelLayout
from whisper_runtime.tokenizer import WhisperTokenizer


@dataclass(frozen=True)
class ModelFiles:
    layout: ModelLayout
    spec: ModelSpec
    tokenizer: WhisperTokenizer

    @classmethod
    def load(cls, root: Path, name: str) -> ModelFiles:
        """Model `name` of the repository at `root`; ModelFilesError when it is not exported there."""
        layout = ModelLayout(root, name)
        spec = ModelSpec.load(layout.spec)
        return cls(layout, spec, WhisperTokenizer.from_file(layout.tokenizer, spec.is_multilingual))

    @property
    def name(self) -> str:
        return self.layout.name
