"""The Whisper models the gateway serves: what each can do, and which one a request's `model` names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.config import ConfigError, GatewayConfig
from gateway.errors import ModelNotFoundError
from whisper_runtime.errors import ModelFilesError
from whisper_runtime.model_files import ModelFiles


@dataclass(frozen=True)
class ServedModel:
    files: ModelFiles

    @property
    def name(self) -> str:
        return self.files.name

    @property
    def multilingual(self) -> bool:
        return self.files.tokenizer.special.multilingual

    @property
    def languages(self) -> tuple[str, ...]:
        return self.files.tokenizer.languages

    def capabilities(self) -> dict[str, object]:
        """What `/v1/models` says this model can do."""
        return {
            "languages": list(self.languages),
            "language_detection": self.multilingual,
            "translation": self.multilingual,
        }


class ModelCatalog:
    """The served models by name, the default, and the default's aliases."""

    def __init__(self, models: Sequence[ServedModel], default: str, aliases: Sequence[str]) -> None:
        self.models = {model.name: model for model in models}
        self.default = self.models[default]
        self.aliases = tuple(aliases)

    @classmethod
    def load(cls, config: GatewayConfig) -> ModelCatalog:
        """The configured models, read from the repository; ConfigError naming a model that is not exported."""
        models = []
        for name in config.models:
            try:
                models.append(ServedModel(ModelFiles.load(config.model_repository, name)))
            except ModelFilesError as exc:
                raise ConfigError(f"model {name} is configured but cannot be read: {exc}") from exc
        return cls(models, config.default, config.model_aliases)

    @property
    def names(self) -> tuple[str, ...]:
        """Every name a request may use: the models, then the aliases."""
        return (*self.models, *self.aliases)

    def resolve(self, requested: str | None) -> ServedModel:
        """The model `requested` names (None or an alias: the default); ModelNotFoundError otherwise."""
        if requested is None or requested in self.aliases:
            return self.default
        if requested not in self.models:
            raise ModelNotFoundError(
                f"model {requested!r} is not served here; use one of {', '.join(self.names)}", param="model"
            )
        return self.models[requested]
