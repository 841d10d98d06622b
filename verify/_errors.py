"""The one exception tree of fapiao-cloud.

Every error raised on purpose derives from :class:`FapiaoError` and carries a
machine-readable ``code`` (snake_case, stable: clients match on it), the ``field``
it concerns when there is one, and a human ``message``. Drivers' exceptions are
wrapped into :class:`StoreError` / :class:`CacheError` at the adapters; the edge
maps this tree to HTTP statuses and national result codes in one place.
"""

from __future__ import annotations


class FapiaoError(Exception):
    """Root of every deliberate fapiao error."""

    default_code = "error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field

    def as_dict(self) -> dict[str, str | None]:
        """The machine-readable form used by the CLI and the HTTP edge."""
        return {"code": self.code, "field": self.field, "message": self.message}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, field={self.field!r}, {self.message!r})"


class InvalidInput(FapiaoError):  # noqa: N818 - public name, stable for clients
    """The caller sent something wrong; retrying the same input cannot succeed."""

    default_code = "invalid_input"


class PayloadError(InvalidInput):
    """A QR payload line cannot be parsed."""

    default_code = "invalid_payload"


class FieldError(InvalidInput):
    """One field (code, number, date, secret element, tax ID...) fails validation."""

    default_code = "invalid_field"


class IssuedToday(FieldError):  # noqa: N818 - public name, stable for clients
    """The invoice was issued today and same-day verification is off (result ``rqerr``)."""

    default_code = "issued_today"


class StoreError(FapiaoError):
    """The invoice store (ClickHouse) failed; the request may succeed later."""

    default_code = "store_error"


class CacheError(FapiaoError):
    """The hot cache (Redis) failed; callers fall back to the store."""

    default_code = "cache_error"
