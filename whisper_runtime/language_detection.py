"""Spoken-language detection as Whisper does it: one decoder step from <|startoftranscript|>, and the
likeliest of the language tokens."""

from __future__ import annotations

import numpy as np

from whisper_runtime.decoder_sessions import DecoderSessions
from whisper_runtime.tokenizer import SpecialTokens


class LanguageDetector:
    """The language of each window of a multilingual model, from its encoder output."""

    def __init__(self, sessions: DecoderSessions, special: SpecialTokens) -> None:
        self._sessions = sessions
        self._start = special.start_of_transcript
        self._codes = list(special.languages)
        self._tokens = np.array(list(special.languages.values()), dtype=np.int64)

    def detect(self, encoder_hidden_states: np.ndarray) -> list[str]:
        """The code of the likeliest language of each row of `encoder_hidden_states` (rows, frames, d_model)."""
        rows = encoder_hidden_states.shape[0]
        logits, _ = self._sessions.first_step([(self._start,)] * rows, encoder_hidden_states)
        language_logits = logits[:, 0, self._tokens]
        return [self._codes[index] for index in language_logits.argmax(axis=-1)]
