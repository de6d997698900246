"""Whisper tokens: special ids, timestamp tokens, and text <-> token ids (prompts: `whisper_runtime.prompts`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tokenizers import Tokenizer

from whisper_runtime.errors import ModelFilesError
from whisper_runtime.languages import ENGLISH, LANGUAGES, Task, language_token

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
    start_of_lm: int
    # Multilingual models only (English-only ones have the tokens but never saw them in training):
    # the task tokens, and each language's token by code.
    translate: int | None = None
    transcribe: int | None = None
    languages: Mapping[str, int] = field(default_factory=dict)

    @property
    def multilingual(self) -> bool:
        return bool(self.languages)

    def task(self, task: Task) -> int:
        """The token of `task` (multilingual models only)."""
        token = self.translate if task == "translate" else self.transcribe
        if token is None:
            raise ValueError(f"an English-only model has no {task} task")
        return token

    def language_of(self, token: int) -> str | None:
        """The code of a language token (None for any other token)."""
        return next((code for code, language in self.languages.items() if language == token), None)

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
    "start_of_lm": ("<|startoflm|>",),
}
_TASK_NAMES = {"translate": "<|translate|>", "transcribe": "<|transcribe|>"}


class WhisperTokenizer:
    """A `tokenizers` BPE tokenizer plus Whisper's special-token conventions."""

    def __init__(self, tokenizer: Tokenizer, multilingual: bool) -> None:
        """`multilingual`: the model transcribes Whisper's languages and translates (its spec says so)."""
        self._tokenizer = tokenizer
        names = {**_SPECIAL_NAMES, **({task: (name,) for task, name in _TASK_NAMES.items()} if multilingual else {})}
        ids = {field: _first_id(tokenizer, alternatives) for field, alternatives in names.items()}
        languages = {code: tokenizer.token_to_id(language_token(code)) for code in LANGUAGES} if multilingual else {}
        missing = [" or ".join(names[field]) for field, token_id in ids.items() if token_id is None]
        missing += [language_token(code) for code, token_id in languages.items() if token_id is None]
        if missing:
            raise ModelFilesError(f"tokenizer lacks Whisper special tokens: {', '.join(missing)}")
        self.special = SpecialTokens(**ids, languages=languages)  # type: ignore[arg-type]  # None ruled out above

    @classmethod
    def from_file(cls, path: Path, multilingual: bool) -> WhisperTokenizer:
        if not path.is_file():
            raise ModelFilesError(f"tokenizer file {path} does not exist")
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises plain Exception on malformed files
            raise ModelFilesError(f"{path} is not a tokenizer.json: {exc}") from exc
        return cls(tokenizer, multilingual)

    @property
    def languages(self) -> tuple[str, ...]:
        """The codes of the languages this model transcribes."""
        return tuple(self.special.languages) or (ENGLISH,)

    def encode(self, text: str) -> list[int]:
        """Token ids of ordinary text (no special tokens added)."""
        return list(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def decode(self, tokens: Sequence[int]) -> str:
        """Text of the ordinary tokens among `tokens` (special and timestamp tokens dropped)."""
        return self.decode_piece(tokens).strip()

    def decode_piece(self, tokens: Sequence[int]) -> str:
        """Text of the ordinary tokens among `tokens` as written, leading space kept (a word of a sentence)."""
        return str(self._tokenizer.decode([t for t in tokens if t < self.special.end_of_text]))


def _first_id(tokenizer: Tokenizer, names: Sequence[str]) -> int | None:
    return next((token_id for name in names if (token_id := tokenizer.token_to_id(name)) is not None), None)
