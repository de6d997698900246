"""The Whisper engine: loads an exported model repository and transcribes PCM in this process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

from whisper_runtime.audio import validate_pcm
from whisper_runtime.decoding import DecodingOptions, DecodingResult, GreedyDecoder, Prompt
from whisper_runtime.features import window_features
from whisper_runtime.model_spec import ModelSpec
from whisper_runtime.repository import DEFAULT_PRECISION, Precision, RepositoryLayout
from whisper_runtime.sessions import SessionOptions, create_session
from whisper_runtime.tokenizer import WhisperTokenizer
from whisper_runtime.transcription import Segment, TranscriptionOptions, Window, transcribe

ENCODER_INPUT = "input_features"


@dataclass(frozen=True)
class EngineOptions:
    precision: Precision = DEFAULT_PRECISION
    session: SessionOptions = field(default_factory=SessionOptions)


class WhisperEncoder:
    """The audio encoder: log-mel windows (batch, n_mels, frames) -> hidden states."""

    def __init__(self, session: ort.InferenceSession, n_mels: int) -> None:
        self._session = session
        self.n_mels = n_mels

    def features(self, pcm_batch: Sequence[np.ndarray]) -> np.ndarray:
        """The log-mel window this encoder takes, per clip of validated 16 kHz mono float32 PCM."""
        return window_features(pcm_batch, self.n_mels)

    def encode(self, features: np.ndarray) -> np.ndarray:
        (hidden,) = self._session.run(None, {ENCODER_INPUT: np.ascontiguousarray(features, dtype=np.float32)})
        return hidden

    def encode_pcm(self, pcm_batch: Sequence[np.ndarray]) -> np.ndarray:
        return self.encode(self.features(pcm_batch))


def load_spec(repository: Path) -> ModelSpec:
    return ModelSpec.load(RepositoryLayout(repository).root)


def load_encoder(repository: Path, options: EngineOptions) -> WhisperEncoder:
    session = create_session(RepositoryLayout(repository).encoder(options.precision), options.session)
    return WhisperEncoder(session, load_spec(repository).n_mels)


def load_decoder(repository: Path, options: EngineOptions) -> GreedyDecoder:
    layout = RepositoryLayout(repository)
    return GreedyDecoder(
        decoder=create_session(layout.decoder(options.precision), options.session),
        decoder_with_past=create_session(layout.decoder_with_past(options.precision), options.session),
        tokenizer=WhisperTokenizer.from_file(layout.tokenizer),
        spec=load_spec(repository),
    )


class WhisperEngine:
    """Features, encoder and greedy decoder in one process: the in-process path to a transcript."""

    def __init__(self, spec: ModelSpec, encoder: WhisperEncoder, decoder: GreedyDecoder) -> None:
        self.spec = spec
        self._encoder = encoder
        self._decoder = decoder

    @classmethod
    def load(cls, repository: Path, options: EngineOptions | None = None) -> WhisperEngine:
        options = options or EngineOptions()
        return cls(load_spec(repository), load_encoder(repository, options), load_decoder(repository, options))

    @property
    def prompt(self) -> Prompt:
        """The tokens a decoding starts from by default (text, no timestamps)."""
        return self._decoder.prompt

    @property
    def tokenizer(self) -> WhisperTokenizer:
        return self._decoder.tokenizer

    def check_prompt(self, prompt: Sequence[int]) -> Prompt:
        return self._decoder.check_prompt(prompt)

    def features(self, pcm_batch: Sequence[np.ndarray]) -> np.ndarray:
        return self._encoder.features([validate_pcm(pcm) for pcm in pcm_batch])

    def transcribe_features(
        self,
        features: np.ndarray,
        options: DecodingOptions | None = None,
        prompts: Sequence[Prompt] | None = None,
    ) -> list[DecodingResult]:
        return self._decoder.decode(self._encoder.encode(features), options, prompts)

    def transcribe_batch(
        self,
        pcm_batch: Sequence[np.ndarray],
        options: DecodingOptions | None = None,
        prompts: Sequence[Prompt] | None = None,
    ) -> list[DecodingResult]:
        """Decode clips of at most 30 s of 16 kHz mono float32 PCM, each from its prompt."""
        return self.transcribe_features(self.features(pcm_batch), options, prompts)

    def decode_window(self, window: Window, decoding: DecodingOptions | None = None) -> DecodingResult:
        (result,) = self.transcribe_batch([window.pcm], decoding, prompts=[window.prompt])
        return result

    def transcribe(
        self, pcm: np.ndarray, options: TranscriptionOptions | None = None, decoding: DecodingOptions | None = None
    ) -> list[Segment]:
        """Segments of a recording of any length (16 kHz mono float32 PCM)."""
        validate_pcm(pcm, max_samples=None)
        segments = transcribe(
            pcm, self.tokenizer, lambda window: self.decode_window(window, decoding), options or TranscriptionOptions()
        )
        return list(segments)
