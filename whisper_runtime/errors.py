"""Errors raised by the runtime; callers map them onto their own protocol (HTTP, Triton).

Each audio error carries a stable `code` that the gateway returns to clients and the Triton
models put in front of their error messages.
"""


class RuntimeModelError(Exception):
    """Base class for errors of the Whisper runtime."""


class InvalidInputError(RuntimeModelError):
    """An input handed to the runtime is malformed; `code` names what is wrong."""

    code = "invalid_input"


class InvalidAudioError(InvalidInputError):
    """The audio handed to the runtime cannot be transcribed."""

    code = "invalid_audio"


class InvalidPromptError(InvalidInputError):
    """A decoder prompt is not a Whisper prompt (see `whisper_runtime.prompts.PromptRules`)."""

    code = "invalid_prompt"


class EmptyAudioError(InvalidAudioError):
    code = "empty_audio"


class NonFiniteAudioError(InvalidAudioError):
    code = "non_finite_audio"


class AudioTooLongError(InvalidAudioError):
    code = "audio_too_long"


class NotAudioError(InvalidAudioError):
    """FFmpeg cannot open the bytes as a media file, or the file holds no audio stream."""

    code = "not_audio"


class UnsupportedCodecError(InvalidAudioError):
    code = "unsupported_codec"


class CorruptAudioError(InvalidAudioError):
    """The audio stream fails to decode part-way."""

    code = "corrupt_audio"


class TruncatedAudioError(InvalidAudioError):
    """Much less audio decodes than the container declares."""

    code = "truncated_audio"


class DecodeTimeoutError(InvalidAudioError):
    code = "decode_timeout"


class ModelFilesError(RuntimeModelError):
    """The exported model files are missing or inconsistent."""


class CorruptWeightsError(ModelFilesError):
    """A weight file does not match the size and sha256 its manifest records (truncated, altered, unrecorded)."""
