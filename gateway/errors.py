"""The gateway's error hierarchy: each error knows its HTTP status, OpenAI error type and code.

Handlers raise these; `error_middleware` renders every one of them, and aiohttp's own HTTP
errors, as `{"error": {"message", "type", "code", "param"}}`. Nothing else maps errors.
"""

from __future__ import annotations

from typing import ClassVar

from whisper_runtime.errors import InvalidAudioError


class ApiError(Exception):
    status: ClassVar[int] = 500
    type: ClassVar[str] = "server_error"
    code: str = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def body(self) -> dict[str, dict[str, str | None]]:
        return {"error": {"message": self.message, "type": self.type, "code": self.code, "param": self.param}}


class InvalidRequestError(ApiError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class InvalidParameterError(InvalidRequestError):
    code = "invalid_parameter"


class MissingFileError(InvalidRequestError):
    code = "missing_file"


class EmptyFileError(InvalidRequestError):
    code = "empty_file"


class InvalidAudioFileError(InvalidRequestError):
    """The upload is not usable audio; `code` is the runtime's (not_audio, corrupt_audio, ...)."""

    @classmethod
    def from_runtime(cls, error: InvalidAudioError) -> InvalidAudioFileError:
        return cls(str(error), code=error.code, param="file")


class AuthenticationError(ApiError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class NotFoundError(ApiError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class ModelNotFoundError(NotFoundError):
    code = "model_not_found"


class MethodNotAllowedError(ApiError):
    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"


class UploadTimeoutError(ApiError):
    """The upload was not received within `upload_timeout_s` (a slow or stalled client)."""

    status = 408
    type = "invalid_request_error"
    code = "upload_timeout"


class ClientClosedRequestError(ApiError):
    """The client hung up before its upload was complete; nobody reads the answer (nginx's 499)."""

    status = 499
    type = "invalid_request_error"
    code = "client_closed_request"


class PayloadTooLargeError(ApiError):
    status = 413
    type = "invalid_request_error"
    code = "file_too_large"


class UnsupportedMediaTypeError(ApiError):
    status = 415
    type = "invalid_request_error"
    code = "unsupported_media_type"


class TooManyRequestsError(ApiError):
    status = 429
    type = "rate_limit_error"
    code = "too_many_requests"

    def __init__(self, message: str, retry_after_s: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after_s = retry_after_s


class ShuttingDownError(ApiError):
    status = 503
    type = "server_error"
    code = "shutting_down"


class BackendError(ApiError):
    """A backend failed (not the client's request): the chain moves on to the next backend."""

    status = 503
    type = "server_error"
    code = "backend_unavailable"


class BackendUnavailableError(BackendError):
    """The backend cannot be reached, or failed the work for reasons of its own."""


class VersionMovedError(BackendUnavailableError):
    """The model version asked for is no longer ready (a rollout unloaded it): the endpoint is asked again at
    once, and its breaker does not count it."""

    code = "model_version_moved"


class BackendTimeoutError(BackendError):
    status = 504
    code = "backend_timeout"


class CircuitOpenError(BackendError):
    """The breaker in front of a backend is open: the backend is not even tried."""

    code = "circuit_open"


class FallbackUnavailableError(BackendError):
    code = "fallback_unavailable"
