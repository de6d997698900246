"""The shared test audio (../shared/audio) and its reference transcripts."""

from __future__ import annotations

import re

from perf.datasets import AUDIO_ROOT, JFK_CLIP, load_dataset

AUDIO_DIR = AUDIO_ROOT
JFK = JFK_CLIP

JFK_TEXT = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
LIBRISPEECH = sorted((AUDIO_DIR / "librispeech").glob("*.flac"))
MULTILINGUAL = load_dataset("multilingual")
ONE_PER_LANGUAGE = [next(clip for clip in MULTILINGUAL if clip.language == code) for code in ("de", "es", "fr", "pt")]


def normalize(text: str) -> str:
    """Lowercase words without punctuation, for comparing transcripts."""
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())
