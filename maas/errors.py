"""The one domain error hierarchy.

Errors are raised where the problem is found and turned into HTTP problem documents (RFC 9457)
only at the edge (:mod:`maas.http.problems`), or into one plain line on the command line.
"""

from __future__ import annotations

from typing import Any


class MaasError(Exception):
    """An expected failure: bad input, missing data, a conflict. Never a bug."""

    status = 500
    title = "Internal error"
    type_slug = "internal"

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra

    def __str__(self) -> str:
        if self.field:
            return f"{self.field}: {self.detail}"
        return self.detail


class ConfigError(MaasError):
    """The service is configured wrongly (environment, files, database)."""

    status = 500
    title = "Configuration error"
    type_slug = "config"


class InputError(MaasError):
    """The request or command-line input is invalid; ``field`` names the offending part."""

    status = 422
    title = "Invalid input"
    type_slug = "invalid-input"

    def __init__(self, field: str, detail: str, **extra: Any) -> None:
        super().__init__(detail, field=field, **extra)


class BadRequestError(MaasError):
    """The request cannot be read at all (malformed JSON, wrong content type)."""

    status = 400
    title = "Bad request"
    type_slug = "bad-request"


class AuthenticationError(MaasError):
    """No valid credentials."""

    status = 401
    title = "Authentication required"
    type_slug = "unauthenticated"


class ForbiddenError(MaasError):
    """Authenticated, but not allowed to do this."""

    status = 403
    title = "Forbidden"
    type_slug = "forbidden"


class NotFoundError(MaasError):
    """The thing asked for does not exist (or is not visible to the caller)."""

    status = 404
    title = "Not found"
    type_slug = "not-found"


class ConflictError(MaasError):
    """The request conflicts with the current state (a taken seat, a stale version)."""

    status = 409
    title = "Conflict"
    type_slug = "conflict"


class UnsupportedMediaTypeError(MaasError):
    """The body is not in a format the endpoint reads (JSON)."""

    status = 415
    title = "Unsupported media type"
    type_slug = "unsupported-media-type"


class PayloadTooLargeError(MaasError):
    """The request body is larger than allowed."""

    status = 413
    title = "Payload too large"
    type_slug = "payload-too-large"


class UnavailableError(MaasError):
    """A dependency (database, road graph) is not ready."""

    status = 503
    title = "Service unavailable"
    type_slug = "unavailable"
