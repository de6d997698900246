"""Whisper's 99 languages: codes (its language tokens are `<|code|>`), English names, and the names
people also use for them. `language_code` reads what a request sends."""

from __future__ import annotations

from typing import Literal

from whisper_runtime.errors import InvalidInputError

Task = Literal["transcribe", "translate"]
ENGLISH = "en"

_NAMES = (
    "en english|zh chinese|de german|es spanish|ru russian|ko korean|fr french|ja japanese|pt portuguese|"
    "tr turkish|pl polish|ca catalan|nl dutch|ar arabic|sv swedish|it italian|id indonesian|hi hindi|"
    "fi finnish|vi vietnamese|he hebrew|uk ukrainian|el greek|ms malay|cs czech|ro romanian|da danish|"
    "hu hungarian|ta tamil|no norwegian|th thai|ur urdu|hr croatian|bg bulgarian|lt lithuanian|la latin|"
    "mi maori|ml malayalam|cy welsh|sk slovak|te telugu|fa persian|lv latvian|bn bengali|sr serbian|"
    "az azerbaijani|sl slovenian|kn kannada|et estonian|mk macedonian|br breton|eu basque|is icelandic|"
    "hy armenian|ne nepali|mn mongolian|bs bosnian|kk kazakh|sq albanian|sw swahili|gl galician|mr marathi|"
    "pa punjabi|si sinhala|km khmer|sn shona|yo yoruba|so somali|af afrikaans|oc occitan|ka georgian|"
    "be belarusian|tg tajik|sd sindhi|gu gujarati|am amharic|yi yiddish|lo lao|uz uzbek|fo faroese|"
    "ht haitian creole|ps pashto|tk turkmen|nn nynorsk|mt maltese|sa sanskrit|lb luxembourgish|my myanmar|"
    "bo tibetan|tl tagalog|mg malagasy|as assamese|tt tatar|haw hawaiian|ln lingala|ha hausa|ba bashkir|"
    "jw javanese|su sundanese"
)
# Code -> English name, in the order of the language tokens.
LANGUAGES: dict[str, str] = dict(entry.split(" ", 1) for entry in _NAMES.split("|"))
# Other names Whisper accepts for some languages.
ALIASES = {
    "burmese": "my",
    "valencian": "ca",
    "flemish": "nl",
    "haitian": "ht",
    "letzeburgesch": "lb",
    "pushto": "ps",
    "panjabi": "pa",
    "moldavian": "ro",
    "moldovan": "ro",
    "sinhalese": "si",
    "castilian": "es",
    "mandarin": "zh",
}
_CODES_BY_NAME = {**{name: code for code, name in LANGUAGES.items()}, **ALIASES}


class UnknownLanguageError(InvalidInputError):
    code = "invalid_language"


def language_code(value: str) -> str:
    """The code of a language given by code or name, any case ('de', 'German'); UnknownLanguageError if
    Whisper has no such language."""
    key = value.strip().lower()
    if key in LANGUAGES:
        return key
    if key in _CODES_BY_NAME:
        return _CODES_BY_NAME[key]
    raise UnknownLanguageError(f"{value!r} is not one of Whisper's languages (an ISO 639-1 code or an English name)")


def language_token(code: str) -> str:
    return f"<|{code}|>"
