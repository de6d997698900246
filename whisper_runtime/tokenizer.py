"""Whisper tokens: special ids, timestamp tokens, and decoding token ids to text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer

from whisper_runtime.errors import ModelFilesError


@dataclass(frozen=True)
class SpecialTokens:
    """Ids of Whisper's control tokens; timestamps follow `no_timestamps` in the vocabulary."""

    end_of_text: int
    start_of_transcript: int
    start_of_prev: int
    no_timestamps: int

    @property
    def timestamp_begin(self) -> int:
        return self.no_timestamps + 1


_SPECIAL_NAMES = {
    "end_of_text": "<|endoftext|>",
    "start_of_transcript": "<|startoftranscript|>",
    "start_of_prev": "<|startofprev|>",
    "no_timestamps": "<|notimestamps|>",
}


class WhisperTokenizer:
    """A `tokenizers` BPE tokenizer plus Whisper's special-token conventions."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer
        ids = {field: tokenizer.token_to_id(name) for field, name in _SPECIAL_NAMES.items()}
        missing = [_SPECIAL_NAMES[field] for field, token_id in ids.items() if token_id is None]
        if missing:
            raise ModelFilesError(f"tokenizer lacks Whisper special tokens: {', '.join(missing)}")
        self.special = SpecialTokens(**ids)

    @classmethod
    def from_file(cls, path: Path) -> WhisperTokenizer:
        if not path.is_file():
            raise ModelFilesError(f"tokenizer file {path} does not exist")
        try:
            return cls(Tokenizer.from_file(str(path)))
        except Exception as exc:  # tokenizers raises plain Exception on malformed files
            raise ModelFilesError(f"{path} is not a tokenizer.json: {exc}") from exc

    def decode(self, tokens: Sequence[int]) -> str:
        """Text of the ordinary tokens among `tokens` (special and timestamp tokens dropped)."""
        text_tokens = [t for t in tokens if t < self.special.end_of_text]
        return self._tokenizer.decode(text_tokens).strip()
