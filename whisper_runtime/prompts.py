"""Decoder prompts: the tokens a decoding starts from, built for a window and checked when sent.

A prompt is `[<|startofprev|>, previous tokens...,] <|startoftranscript|> [language] [task]
[<|notimestamps|>]`: previous text conditions the decoding; a multilingual model's prompt names
its task (<|transcribe|> or <|translate|>) and the spoken language's token, or leaves the
language out to have it detected; an English-only model's prompt has neither. A prompt ending
in <|notimestamps|> decodes text only; any other decodes with timestamp tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from whisper_runtime.errors import InvalidPromptError
from whisper_runtime.languages import ENGLISH, Task
from whisper_runtime.tokenizer import SpecialTokens

Prompt = tuple[int, ...]

# Whisper keeps at most n_text_ctx // 2 - 1 previous tokens in a prompt.
MAX_PREVIOUS_TOKENS = 223
MAX_CONTROL_TOKENS = 4  # start of transcript, language, task, no timestamps


@dataclass(frozen=True)
class PromptRules:
    """The prompts of one model, from its special tokens."""

    special: SpecialTokens

    def build(
        self,
        previous: Sequence[int] = (),
        timestamps: bool = False,
        language: str | None = None,
        task: Task = "transcribe",
    ) -> Prompt:
        """Optional previous text, start of transcript, the language (None: detect it) and the task on a
        multilingual model, and <|notimestamps|> unless timestamps are wanted. At most
        MAX_PREVIOUS_TOKENS of `previous` are kept (the latest), as Whisper does, so that half the text
        context stays for new tokens. InvalidPromptError for a language or task the model lacks."""
        special = self.special
        kept = tuple(previous[-MAX_PREVIOUS_TOKENS:]) if previous else ()
        head = (special.start_of_prev, *kept) if kept else ()
        return (*head, special.start_of_transcript, *self._controls(language, task), *self._tail(timestamps))

    def _controls(self, language: str | None, task: Task) -> tuple[int, ...]:
        special = self.special
        if not special.multilingual:
            if language not in (None, ENGLISH) or task != "transcribe":
                raise InvalidPromptError("an English-only model transcribes English only")
            return ()
        if language is None:
            return (special.task(task),)
        if language not in special.languages:
            raise InvalidPromptError(f"{language!r} is not a language of this model")
        return (special.languages[language], special.task(task))

    def _tail(self, timestamps: bool) -> tuple[int, ...]:
        return () if timestamps else (self.special.no_timestamps,)

    @property
    def default(self) -> Prompt:
        """Text without timestamps, without previous text; a multilingual model detects the language."""
        return self.build()

    def wants_timestamps(self, prompt: Sequence[int]) -> bool:
        return prompt[-1] != self.special.no_timestamps

    def language(self, prompt: Prompt) -> str | None:
        """The language `prompt` decodes in: English on an English-only model, None where it is to be detected."""
        if not self.special.multilingual:
            return ENGLISH
        after_start = prompt[prompt.index(self.special.start_of_transcript) + 1]
        return self.special.language_of(after_start)

    def with_language(self, prompt: Prompt, language: str) -> Prompt:
        """A prompt that leaves the language to be detected, with `language`'s token put in."""
        start = prompt.index(self.special.start_of_transcript) + 1
        return (*prompt[:start], self.special.languages[language], *prompt[start:])

    def start_sequence(self, prompt: Prompt) -> Prompt:
        """The prompt's tokens from <|startoftranscript|> to its task, without previous text or
        <|notimestamps|> (what the aligner's input starts with)."""
        start = prompt.index(self.special.start_of_transcript)
        return prompt[start : len(prompt) - len(self._tail(self.wants_timestamps(prompt)))]

    def check(self, tokens: Sequence[int]) -> Prompt:
        """`tokens` as a Prompt if it has the shape `build` gives; InvalidPromptError if not."""
        special = self.special
        prompt = tuple(int(token) for token in tokens)
        if not prompt or len(prompt) > MAX_PREVIOUS_TOKENS + 1 + MAX_CONTROL_TOKENS:
            raise InvalidPromptError(
                f"a prompt has 1 to {MAX_PREVIOUS_TOKENS + 1 + MAX_CONTROL_TOKENS} tokens, not {len(prompt)}"
            )
        if not all(0 <= token < special.vocab_size for token in prompt):
            raise InvalidPromptError(f"prompt tokens must lie in [0, {special.vocab_size})")
        if prompt.count(special.start_of_transcript) != 1:
            raise InvalidPromptError("a prompt has <|startoftranscript|> once")
        start = prompt.index(special.start_of_transcript)
        if not self._valid_controls(prompt[start + 1 : len(prompt) - len(self._tail(self.wants_timestamps(prompt)))]):
            shape = "[language] <|transcribe|> or <|translate|>" if special.multilingual else "nothing"
            raise InvalidPromptError(
                f"after <|startoftranscript|> a prompt of this model has {shape}, then [<|notimestamps|>]"
            )
        previous = prompt[:start]
        ordinary = all(t < special.end_of_text or t >= special.timestamp_begin for t in previous[1:])
        if previous and (previous[0] != special.start_of_prev or not ordinary):
            raise InvalidPromptError("previous text in a prompt is <|startofprev|> then text and timestamp tokens")
        return prompt

    def _valid_controls(self, controls: Prompt) -> bool:
        """Whether the tokens between <|startoftranscript|> and <|notimestamps|> are what `build` puts there."""
        special = self.special
        if not special.multilingual:
            return controls == ()
        tasks = (special.transcribe, special.translate)
        return (len(controls) == 1 and controls[0] in tasks) or (
            len(controls) == 2 and special.language_of(controls[0]) is not None and controls[1] in tasks
        )
