"""Whisper tokens: special ids, timestamp tokens, and text <-> token ids (prompts: `whisper_runtime.prompts`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer

from whisper_runtime.errors import ModelFilesError

# Timestamp tokens follow <|notimestamps|>: 0.00 s to 30.00 s in steps of 0.02 s, the end of the vocabulary.
TIMESTAMP_TOKENS = 1501


@dataclass(frozen=True)
class SpecialTokens:
    """Ids of Whisper's control tokens; timestamps follow `no_timestamps` in the vocabulary."""

    end_of_text: int
    start_of_transcript: int
    start_of_prev: int
    no_speech: int
    no_timestamps: int

    @property
    def timestamp_begin(self) -> int:
        return self.no_timestamps + 1

    @property
    def vocab_size(self) -> int:
        """The model's vocabulary: text and control tokens, then the timestamps."""
        return self.timestamp_begin + TIMESTAMP_TOKENS


# Each control token by its name(s): English-only checkpoints call <|nospeech|> <|nocaptions|>.
_SPECIAL_NAMES = {
    "end_of_text": ("<|endoftext|>",),
    "start_of_transcript": ("<|startoftranscript|>",),
    "start_of_prev": ("<|startofprev|>",),
    "no_speech": ("<|nospeech|>", "<|nocaptions|>"),
    "no_timestamps": ("<|notimestamps|>",),
}


class WhisperTokenizer:
    """A `tokenizers` BPE tokenizer plus Whisper's special-token conventions."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer
        ids = {field: _first_id(tokenizer, names) for field, names in _SPECIAL_NAMES.items()}
        missing = [" or ".join(_SPECIAL_NAMES[field]) for field, token_id in ids.items() if token_id is None]
        if missing:
            raise ModelFilesError(f"tokenizer lacks Whisper special tokens: {', '.join(missing)}")
        self.special = SpecialTokens(**ids)  # type: ignore[arg-type]  # None ruled out above

    @classmethod
    def from_file(cls, path: Path) -> WhisperTokenizer:
        if not path.is_file():
            raise ModelFilesError(f"tokenizer file {path} does not exist")
        try:
            return cls(Tokenizer.from_file(str(path)))
        except Exception as exc:  # tokenizers raises plain Exception on malformed files
            raise ModelFilesError(f"{path} is not a tokenizer.json: {exc}") from exc

    def encode(self, text: str) -> list[int]:
        """Token ids of ordinary text (no special tokens added)."""
        return list(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def decode(self, tokens: Sequence[int]) -> str:
        """Text of the ordinary tokens among `tokens` (special and timestamp tokens dropped)."""
        text_tokens = [t for t in tokens if t < self.special.end_of_text]
        return self._tokenizer.decode(text_tokens).strip()


def _first_id(tokenizer: Tokenizer, names: Sequence[str]) -> int | None:
    return next((token_id for name in names if (token_id := tokenizer.token_to_id(name)) is not None), None)
