"""An exported model's spec and tokenizer: what every caller reads before it decodes with that model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from whisper_runtime.integrity import WeightRecord
from whisper_runtime.model_spec import ModelSpec
from whisper_runtime.repository import MODEL_VERSION, ModelLayout
from whisper_runtime.tokenizer import WhisperTokenizer


@dataclass(frozen=True)
class ModelFiles:
    layout: ModelLayout
    spec: ModelSpec
    tokenizer: WhisperTokenizer

    @classmethod
    def load(cls, root: Path, name: str, version: str = MODEL_VERSION) -> ModelFiles:
        """Model `name` (Triton version `version`) of the repository at `root`; ModelFilesError when it is
        not exported there."""
        layout = ModelLayout(root, name, version)
        spec = ModelSpec.load(layout.spec)
        return cls(layout, spec, WhisperTokenizer.from_file(layout.tokenizer, spec.is_multilingual))

    def weights(self, path: Path) -> Path:
        """`path`, a weight file of this model, once it matches its recorded size and sha256
        (CorruptWeightsError naming it otherwise)."""
        return WeightRecord.read(self.layout.weight_record, self.layout.root).verify(path)

    @property
    def name(self) -> str:
        return self.layout.name
