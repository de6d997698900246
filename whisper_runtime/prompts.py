"""Decoder prompts: the tokens a decoding starts from, built for a window and checked when sent.

A prompt is `[<|startofprev|>, previous tokens...,] <|startoftranscript|> [<|notimestamps|>]`:
previous text conditions the decoding, and a prompt ending in <|notimestamps|> decodes text
only; any other decodes with timestamp tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from whisper_runtime.errors import InvalidPromptError
from whisper_runtime.tokenizer import SpecialTokens

Prompt = tuple[int, ...]

# Whisper keeps at most n_text_ctx // 2 - 1 previous tokens in a prompt.
MAX_PREVIOUS_TOKENS = 223


@dataclass(frozen=True)
class PromptRules:
    """The prompts of one model, from its special tokens."""

    special: SpecialTokens

    def build(self, previous: Sequence[int] = (), timestamps: bool = False) -> Prompt:
        """Optional previous text, start of transcript, and <|notimestamps|> unless timestamps are
        wanted. At most MAX_PREVIOUS_TOKENS of `previous` are kept (the latest), as Whisper does, so
        that half the text context stays for new tokens."""
        special = self.special
        kept = tuple(previous[-MAX_PREVIOUS_TOKENS:]) if previous else ()
        head = (special.start_of_prev, *kept) if kept else ()
        return (*head, special.start_of_transcript, *(() if timestamps else (special.no_timestamps,)))

    @property
    def default(self) -> Prompt:
        """Text without timestamps, without previous text."""
        return self.build()

    def wants_timestamps(self, prompt: Sequence[int]) -> bool:
        return prompt[-1] != self.special.no_timestamps

    def check(self, tokens: Sequence[int]) -> Prompt:
        """`tokens` as a Prompt if it has the shape `build` gives; InvalidPromptError if not."""
        special = self.special
        prompt = tuple(int(token) for token in tokens)
        if not prompt or len(prompt) > MAX_PREVIOUS_TOKENS + 3:
            raise InvalidPromptError(f"a prompt has 1 to {MAX_PREVIOUS_TOKENS + 3} tokens, not {len(prompt)}")
        if not all(0 <= token < special.vocab_size for token in prompt):
            raise InvalidPromptError(f"prompt tokens must lie in [0, {special.vocab_size})")
        start = len(prompt) - (1 if self.wants_timestamps(prompt) else 2)
        if start < 0 or prompt[start] != special.start_of_transcript or special.start_of_transcript in prompt[:start]:
            raise InvalidPromptError("a prompt ends with <|startoftranscript|> [<|notimestamps|>] and has it once")
        previous = prompt[:start]
        ordinary = all(t < special.end_of_text or t >= special.timestamp_begin for t in previous[1:])
        if previous and (previous[0] != special.start_of_prev or not ordinary):
            raise InvalidPromptError("previous text in a prompt is <|startofprev|> then text and timestamp tokens")
        return prompt
