"""Errors raised by the runtime; callers map them onto their own protocol (HTTP, Triton)."""


class RuntimeModelError(Exception):
    """Base class for errors of the Whisper runtime."""


class InvalidAudioError(RuntimeModelError):
    """The PCM handed to the runtime cannot be transcribed."""

    code = "invalid_audio"


class EmptyAudioError(InvalidAudioError):
    code = "empty_audio"


class NonFiniteAudioError(InvalidAudioError):
    code = "non_finite_audio"


class AudioTooLongError(InvalidAudioError):
    code = "audio_too_long"


class ModelFilesError(RuntimeModelError):
    """The exported model files are missing or inconsistent."""


class UndecodableAudioError(InvalidAudioError):
    code = "undecodable_audio"
