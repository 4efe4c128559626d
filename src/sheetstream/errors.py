"""The exceptions sheetstream raises, and the wire code each maps to.

    SheetstreamError (code "internal")
    ├── BadRequest (code "bad_request")
    ├── Unauthorized (code "unauthorized")
    ├── Forbidden (code "forbidden")
    ├── RateLimited (code "rate_limited")
    ├── NotFound (code "not_found")
    ├── Busy (code "busy")
    ├── StreamExpired (code "stream_expired")
    ├── WorkbookNotFound (code "workbook_not_found")
    ├── TooLarge (code "too_large")
    ├── Overloaded (code "overloaded")
    ├── QuotaExceeded (code "quota_exceeded")
    ├── LLMError
    │   ├── LLMUnavailable (code "llm_unavailable")
    │   └── LLMTimeout (code "llm_timeout")
    └── Unavailable (code "unavailable": Redis or PostgreSQL not answering)
        └── StorageError

Foreign libraries' errors are mapped to these in the module that calls the library; routes map
these to frames and HTTP statuses in one place.
"""

from __future__ import annotations


class SheetstreamError(Exception):
    code = "internal"

    def __init__(self, message: str, *, request_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id


class BadRequest(SheetstreamError):
    code = "bad_request"


class Unauthorized(SheetstreamError):
    """No token where one is needed."""

    code = "unauthorized"


class Forbidden(SheetstreamError):
    """A token that does not open this door."""

    code = "forbidden"


class RateLimited(SheetstreamError):
    code = "rate_limited"


class NotFound(SheetstreamError):
    code = "not_found"


class Busy(SheetstreamError):
    code = "busy"


def session_busy(request_id: str | None, elsewhere: bool = False) -> Busy:
    where = " (on another server)" if elsewhere else ""
    return Busy(
        f"This session is still answering{where}; wait for its `end` or send `cancel` first.",
        request_id=request_id,
    )


def owner_busy(cap: int, request_id: str | None) -> Busy:
    return Busy(
        f"{cap} answers are already being written for this token; wait for one to end, or "
        "cancel one.",
        request_id=request_id,
    )


class StreamExpired(SheetstreamError):
    code = "stream_expired"


class WorkbookNotFound(SheetstreamError):
    code = "workbook_not_found"


class TooLarge(SheetstreamError):
    code = "too_large"


class Overloaded(SheetstreamError):
    """Every slot for this kind of work is taken and so is the queue: try again later."""

    code = "overloaded"

    def __init__(
        self, message: str, *, retry_after_s: float, request_id: str | None = None
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.retry_after_s = retry_after_s


class QuotaExceeded(SheetstreamError):
    """The owner has used all of one of their quotas; the message names it."""

    code = "quota_exceeded"


class LLMError(SheetstreamError):
    """The model backend failed; subclasses say whether it was down or too slow."""


class LLMUnavailable(LLMError):
    code = "llm_unavailable"


class LLMTimeout(LLMError):
    code = "llm_timeout"


class Unavailable(SheetstreamError):
    """A dependency the fleet shares (Redis, PostgreSQL) is not answering; try again soon."""

    code = "unavailable"


class StorageError(Unavailable):
    """The history store failed or is unreachable."""
