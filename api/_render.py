"""Rendering outcomes and errors as the verify response body (DESIGN.md, HTTP).

Encoders are built once; the invoice and flow are pre-encoded JSON taken from the
cache (``msgspec.Raw``), so a cache hit is rendered without re-encoding them.
"""

from __future__ import annotations

import functools

import msgspec

from verify import FapiaoError, IssuedToday, ResultCode, Status
from verify._pipeline import Outcome

_NULL = msgspec.Raw(b"null")
_EMPTY = msgspec.Raw(b"[]")


class ErrorBody(msgspec.Struct):
    code: str
    field: str | None
    message: str


class VerifyBody(msgspec.Struct):
    code: str
    message: str
    message_en: str
    status: str | None
    status_label: str | None
    verify_count: int | None
    invoice: msgspec.Raw
    flow: msgspec.Raw
    error: ErrorBody | None


_encoder = msgspec.json.Encoder()
_STATUS_LABELS = {s.value: s.label_zh for s in Status}


def error_body(error: FapiaoError | None) -> ErrorBody | None:
    if error is None:
        return None
    return ErrorBody(error.code, error.field, error.message)


def outcome_body(outcome: Outcome) -> VerifyBody:
    result = outcome.result
    verified = result is ResultCode.VERIFIED
    status = outcome.status if verified else None
    return VerifyBody(
        code=result.value,
        message=result.message_zh,
        message_en=result.message_en,
        status=status,
        status_label=_STATUS_LABELS.get(status) if status else None,
        verify_count=outcome.verify_count if verified else None,
        invoice=msgspec.Raw(outcome.invoice_json) if verified and outcome.invoice_json else _NULL,
        flow=msgspec.Raw(outcome.flow_json) if verified and outcome.flow_json else _EMPTY,
        error=error_body(outcome.error),
    )


def render_outcome(outcome: Outcome) -> bytes:
    if outcome.result is ResultCode.VERIFIED and outcome.error is None:
        # The usual answer (a cache hit): constant head, the count, and the invoice and
        # flow JSON from the cache, joined (byte-identical to the encoded VerifyBody).
        head = _verified_head(outcome.status)
        count = outcome.verify_count
        if head is not None and count is not None and outcome.invoice_json and outcome.flow_json:
            return b"".join(
                (head, b"%d" % count, b',"invoice":', outcome.invoice_json,
                 b',"flow":', outcome.flow_json, b',"error":null}')
            )  # fmt: skip
    return _encoder.encode(outcome_body(outcome))


@functools.cache
def _verified_head(status: str | None) -> bytes | None:
    """``{"code":"001",...,"verify_count":`` for ``status`` (None: not a known status)."""
    if status not in _STATUS_LABELS:
        return None
    body = _encoder.encode(
        VerifyBody(
            code=ResultCode.VERIFIED.value,
            message=ResultCode.VERIFIED.message_zh,
            message_en=ResultCode.VERIFIED.message_en,
            status=status,
            status_label=_STATUS_LABELS[status],
            verify_count=0,
            invoice=_NULL,
            flow=_EMPTY,
            error=None,
        )
    )
    return body[: body.rindex(b'"verify_count":') + len(b'"verify_count":')]


def render_error(error: FapiaoError) -> tuple[ResultCode, bytes]:
    """A body for an error raised outside the pipeline (bad body, store down...)."""
    from verify import InvalidInput, StoreError

    if isinstance(error, IssuedToday):
        result = ResultCode.ISSUED_TODAY
    elif isinstance(error, InvalidInput):
        result = ResultCode.INVALID_REQUEST
    elif isinstance(error, StoreError):
        result = ResultCode.SYSTEM_ERROR
    else:
        result = ResultCode.SYSTEM_ERROR
    return result, render_outcome(Outcome(result=result, error=error))


def encode(value: object) -> bytes:
    return _encoder.encode(value)
