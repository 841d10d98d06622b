"""The one error ``ocr`` raises on purpose, with stable machine-readable codes."""

from __future__ import annotations

from verify import InvalidInput

CODES = (
    "empty_file",
    "file_too_large",
    "unsupported_type",
    "corrupt_file",
    "truncated_file",
    "pixels_too_many",
    "too_many_pages",
    "encrypted_file",
    "zip_bomb",
    "xml_forbidden",
    "invalid_encoding",
    "no_invoice_found",
    "not_invoice_qr",
    "ocr_timeout",
    "decode_timeout",
)
"""Every code :class:`DecodeError` carries (clients match on them)."""


class DecodeError(InvalidInput):
    """A file cannot be read as an invoice; ``code`` says why (see :data:`CODES`).

    ``non_invoice`` holds QR texts that were read but are not invoice payloads
    (code ``not_invoice_qr``), so the caller can show what was found.
    """

    default_code = "corrupt_file"

    def __init__(
        self,
        message: str,
        *,
        code: str,
        field: str | None = "file",
        non_invoice: list[str] | None = None,
    ) -> None:
        assert code in CODES, code
        super().__init__(message, code=code, field=field)
        self.non_invoice = list(non_invoice or ())
