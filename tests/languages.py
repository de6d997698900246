"""Telling a transcript's language from its words: checks of translations and detected languages."""

from __future__ import annotations

# Words that make up a good share of any English sentence, and of none in German, Spanish, French or Portuguese.
ENGLISH_FUNCTION_WORDS = frozenset(
    ["the", "of", "and", "to", "is", "that", "it", "for", "was", "on", "with", "by", "are", "be", "this", "from"]
)
ENGLISH_PRONOUNS = frozenset(["i", "he", "she", "we", "they", "his", "her", "their"])
GERMAN_FUNCTION_WORDS = frozenset(["der", "die", "das", "und", "ist", "nicht", "ein", "eine", "sich", "mit", "auf"])


def words_of(text: str) -> list[str]:
    return text.lower().replace(",", " ").replace(".", " ").replace("!", " ").replace("?", " ").split()


def english_share(text: str) -> float:
    """The share of `text`'s words that are ENGLISH_FUNCTION_WORDS."""
    words = words_of(text)
    return sum(word in ENGLISH_FUNCTION_WORDS for word in words) / max(1, len(words))
