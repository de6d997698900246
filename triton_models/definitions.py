"""The Triton models of one exported Whisper model, which the export writes into the repository.

Each Whisper model `<name>` is served as `<name>` (entry: fused, or an ensemble in the pipeline
profile), `<name>_encoder` and `<name>_decoder`. Their `config.pbtxt` files are rendered from the
templates in `configs/` (`${model}`, `${encoder}`, `${decoder}` name the three), and each version
directory's `model.py` imports the one model class of its kind from this package, so every
Whisper model runs the same code.
"""

from __future__ import annotations

from pathlib import Path
from string import Template

from whisper_runtime.repository import TRITON_CONFIG_FILE, ModelLayout

CONFIGS = Path(__file__).resolve().parent / "configs"
PIPELINE_CONFIG_DIR = "configs"  # Triton's --model-config-name=pipeline reads <model>/configs/pipeline.pbtxt
PIPELINE_TEMPLATE = "pipeline.pbtxt"
MODEL_FILE = "model.py"


def _model_py(module: str, triton_model: str) -> str:
    return (
        f'"""Triton model {triton_model}: written by the export (triton_models/definitions.py)."""\n\n'
        f"from triton_models.{module} import TritonPythonModel\n\n"
        '__all__ = ["TritonPythonModel"]\n'
    )


def render(template: str, layout: ModelLayout) -> str:
    """The text of template `template` (a file in `configs/`) for the Whisper model of `layout`."""
    return Template((CONFIGS / template).read_text()).substitute(
        model=layout.entry_model, encoder=layout.encoder_model, decoder=layout.decoder_model
    )


def definition_files(layout: ModelLayout) -> dict[Path, str]:
    """Every config.pbtxt and model.py of the model's three Triton models, by path."""
    kinds = {
        layout.entry_model: ("entry.pbtxt", "fused_model"),
        layout.encoder_model: ("encoder.pbtxt", "encoder_model"),
        layout.decoder_model: ("decoder.pbtxt", "decoder_model"),
    }
    files = {
        layout.model_dir(layout.entry_model) / PIPELINE_CONFIG_DIR / PIPELINE_TEMPLATE: render(
            PIPELINE_TEMPLATE, layout
        )
    }
    for triton_model, (template, module) in kinds.items():
        files[layout.model_dir(triton_model) / TRITON_CONFIG_FILE] = render(template, layout)
        files[layout.version_dir(triton_model) / MODEL_FILE] = _model_py(module, triton_model)
    return files
