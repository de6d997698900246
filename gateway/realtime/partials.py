"""Partial text of an utterance still being spoken: each re-decoding of its audio so far is a hypothesis,
and only the words two hypotheses in a row agree on are sent (local agreement), so the deltas of an
utterance are append-only and rarely wrong; a delta ends at a word (letters or digits), never at
punctuation alone, which agrees with any other punctuation. The final text is decoded whole, apart from these."""

from __future__ import annotations

import re

PUNCTUATION = re.compile(r"[^\w']+")


def _key(word: str) -> str:
    """What two hypotheses must agree on in a word: not its case or punctuation (an utterance cut short ends
    "ask what you." where the whole one goes on "ask what you can")."""
    return PUNCTUATION.sub("", word.lower())


class AgreedText:
    """The words of an utterance sent so far, and the hypothesis before the latest."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self._previous: list[str] = []

    def delta(self, hypothesis: str) -> str | None:
        """The text to send after `hypothesis` (None: nothing new agreed), with its leading space."""
        words = hypothesis.split()
        agreed = []
        for earlier, latest in zip(self._previous, words, strict=False):
            if _key(earlier) != _key(latest):
                break
            agreed.append(latest)
        self._previous = words
        if len(agreed) <= len(self.sent) or [_key(w) for w in agreed[: len(self.sent)]] != [_key(w) for w in self.sent]:
            return None  # nothing beyond what was sent, or it contradicts what was sent (which stays)
        new = agreed[len(self.sent) :]
        while new and not _key(new[-1]):
            new.pop()  # a delta ends at a word: punctuation alone agrees with any punctuation
        if not new:
            return None
        lead = " " if self.sent else ""
        self.sent = self.sent + new
        return lead + " ".join(new)
