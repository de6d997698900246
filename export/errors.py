"""Errors of the export pipeline, each with a message meant for the person running it."""


class ExportError(Exception):
    """Base class: the export cannot proceed."""


class InvalidSourceError(ExportError):
    """The source is missing, incomplete, or not a Whisper checkpoint."""


class VerificationError(ExportError):
    """An exported artifact does not reproduce its source."""
