"""The Whisper engine: loads an exported model repository and transcribes PCM in this process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from whisper_runtime.alignment import WordAligner
from whisper_runtime.audio import N_SAMPLES, validate_pcm
from whisper_runtime.batching import rows_by_key
from whisper_runtime.decoder_sessions import DecoderSessions
from whisper_runtime.decoding import DecodingOptions, DecodingResult, TokenDecoder
from whisper_runtime.features import context_samples, window_features
from whisper_runtime.model_files import ModelFiles
from whisper_runtime.model_spec import ModelSpec
from whisper_runtime.repository import DEFAULT_PRECISION, Precision
from whisper_runtime.sessions import ModelSession, SessionOptions, create_session
from whisper_runtime.tokenizer import WhisperTokenizer
from whisper_runtime.transcription import Segment, TranscriptionOptions, Window, transcribe
from whisper_runtime.window_decoder import WindowDecoder, WindowRequest

ENCODER_INPUT = "input_features"


@dataclass(frozen=True)
class EngineOptions:
    precision: Precision = DEFAULT_PRECISION
    session: SessionOptions = field(default_factory=SessionOptions)


class WhisperEncoder:
    """The audio encoder: log-mel windows (batch, n_mels, frames) -> hidden states."""

    def __init__(self, session: ModelSession, n_mels: int) -> None:
        self._session = session
        self.n_mels = n_mels

    def features(self, pcm_batch: Sequence[np.ndarray], samples: int = N_SAMPLES) -> np.ndarray:
        """The log-mel window of `samples` (30 s by default) this encoder takes, per clip of 16 kHz mono PCM
        of at most that. Every clip is validated here, where PCM enters the core (InvalidAudioError)."""
        return window_features([validate_pcm(pcm, samples) for pcm in pcm_batch], self.n_mels, samples)

    def window(self, pcm: np.ndarray, partial: bool) -> np.ndarray:
        """The log-mel window of one clip: 30 s, or a partial hypothesis's shorter encoder context."""
        (features,) = self.features([pcm], context_samples(np.size(pcm), partial))
        return features

    def encode(self, features: np.ndarray) -> np.ndarray:
        (hidden,) = self._session.run(None, {ENCODER_INPUT: np.ascontiguousarray(features, dtype=np.float32)})
        return hidden


def load_encoder(model: ModelFiles, options: EngineOptions) -> WhisperEncoder:
    return WhisperEncoder(
        create_session(model.weights(model.layout.encoder(options.precision)), options.session), model.spec.n_mels
    )


def load_decoder_sessions(model: ModelFiles, options: EngineOptions) -> DecoderSessions:
    """The decoder's sessions; only the cached steps may burst (the prompt step runs once per window, and a copy of
    it at more threads would hold as much memory as the steps' copy)."""
    layout = model.layout
    return DecoderSessions(
        create_session(model.weights(layout.decoder(options.precision)), options.session.without_burst()),
        create_session(model.weights(layout.decoder_with_past(options.precision)), options.session),
        model.spec.decoder_layers,
    )


def load_token_decoder(model: ModelFiles, options: EngineOptions) -> TokenDecoder:
    return TokenDecoder(load_decoder_sessions(model, options), model.tokenizer, model.spec)


def load_decoder(model: ModelFiles, options: EngineOptions) -> WindowDecoder:
    aligner = WordAligner(
        create_session(model.weights(model.layout.aligner(options.precision)), options.session.without_burst()),
        model.tokenizer.special,
    )
    return WindowDecoder(load_token_decoder(model, options), aligner)


class WhisperEngine:
    """Features, encoder and window decoder in one process: the in-process path to a transcript."""

    def __init__(self, spec: ModelSpec, encoder: WhisperEncoder, decoder: WindowDecoder) -> None:
        self.spec = spec
        self._encoder = encoder
        self._decoder = decoder
        self.prompts = decoder.prompts

    @classmethod
    def load(cls, model: ModelFiles, options: EngineOptions | None = None) -> WhisperEngine:
        options = options or EngineOptions()
        return cls(model.spec, load_encoder(model, options), load_decoder(model, options))

    @property
    def tokenizer(self) -> WhisperTokenizer:
        return self._decoder.tokenizer

    def features(self, pcm_batch: Sequence[np.ndarray]) -> np.ndarray:
        return self._encoder.features(pcm_batch)

    def window(self, pcm: np.ndarray, partial: bool) -> np.ndarray:
        return self._encoder.window(pcm, partial)

    def decode_features(
        self,
        features: Sequence[np.ndarray] | np.ndarray,
        requests: Sequence[WindowRequest] | None = None,
        options: DecodingOptions | None = None,
    ) -> list[DecodingResult]:
        """One decoded window per log-mel window of `features`, each as its request asks (default: greedy
        text without timestamps); windows of one width are encoded and decoded as one batch."""
        requests = requests or [WindowRequest(self.prompts.default)] * len(features)
        results: list[DecodingResult] = [None] * len(features)  # type: ignore[list-item]  # every row is in a group
        for rows in rows_by_key([window.shape[-1] for window in features]).values():
            hidden = self._encoder.encode(np.stack([features[row] for row in rows]))
            for row, result in zip(rows, self._decoder.decode(hidden, [requests[row] for row in rows], options),
                                   strict=True):  # fmt: skip
                results[row] = result
        return results

    def decode_batch(
        self,
        pcm_batch: Sequence[np.ndarray],
        requests: Sequence[WindowRequest] | None = None,
        options: DecodingOptions | None = None,
    ) -> list[DecodingResult]:
        """One decoded window per clip of at most 30 s of 16 kHz mono PCM, each as its request asks."""
        requests = requests or [WindowRequest(self.prompts.default)] * len(pcm_batch)
        windows = [self.window(pcm, request.partial) for pcm, request in zip(pcm_batch, requests, strict=True)]
        return self.decode_features(windows, requests, options)

    def decode_window(self, window: Window, decoding: DecodingOptions | None = None) -> DecodingResult:
        (result,) = self.decode_batch([window.pcm], [window.request], decoding)
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
