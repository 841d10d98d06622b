"""The one exception handler: verify's exception tree and Litestar's HTTP errors to
the verify body with a national result code, a machine-readable error code and a
fitting HTTP status. Nothing a client sends can produce a 500 or a stack trace."""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from api._middleware import request_id_of
from api._render import render_outcome
from verify import FapiaoError, InvalidInput, IssuedToday, ResultCode, StoreError
from verify._pipeline import Outcome

log = logging.getLogger("fapiao.errors")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    409: "conflict",
    411: "length_required",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "too_many_requests",
}
_INPUT_STATUS = {
    **dict.fromkeys(("file_too_large", "pixels_too_many", "zip_bomb", "too_many_pages"), 413),
    "unsupported_type": 415,
    "ocr_timeout": 422,  # this photo cannot be read within its time bound
}
"""HTTP status of an input error other than 400, by its code."""
_RETRY_DECODE_S = "5"
_MISSING_FIELD = re.compile(r"missing required field `(\w+)`")


def _client_error(exc: HTTPException) -> tuple[str, str | None, str]:
    """(code, field, message) of a 400 raised by Litestar."""
    detail = str(exc.detail or "")
    lowered = detail.lower()
    if "json" in lowered or "malformed" in lowered:
        return "invalid_json", None, detail
    if "utf-8" in lowered or "decode" in lowered:
        return "invalid_encoding", None, detail
    if not isinstance(exc, ValidationException):
        return _HTTP_CODES.get(exc.status_code, "http_error"), None, detail
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if isinstance(item, dict) and item.get("key"):
            key, message = str(item["key"]), str(item.get("message") or "")
            code, field = _body_code(key, message)
            if code == "body_missing":
                return code, field, "the request has no body"
            return code, field, f"{detail}: {message}" if message else detail
    return "invalid_body", None, detail


def _body_code(key: str, message: str) -> tuple[str, str | None]:
    """Litestar names the whole body ``data``: say what is wrong with it instead."""
    if key != "data":
        return "invalid_body", key
    missing = _MISSING_FIELD.search(message)
    if missing:  # a multipart form without its file part
        return f"{missing[1]}_missing", missing[1]
    if message.startswith("Expected `object`"):
        return "body_not_object", None
    return "body_missing", None


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    headers: dict[str, str] = {}
    if isinstance(exc, FapiaoError):
        error = exc
        if isinstance(exc, IssuedToday):
            result, status = ResultCode.ISSUED_TODAY, ResultCode.ISSUED_TODAY.http_status
        elif exc.code == "decode_timeout":
            # the worker did not finish in time: the machine is loaded, try again
            result, status = ResultCode.AT_CAPACITY, ResultCode.AT_CAPACITY.http_status
            headers["Retry-After"] = _RETRY_DECODE_S
        elif isinstance(exc, InvalidInput):
            result = ResultCode.INVALID_REQUEST
            status = _INPUT_STATUS.get(exc.code, 400)
        else:
            result, status = ResultCode.SYSTEM_ERROR, 503
            if isinstance(exc, StoreError):
                log.warning(
                    "store error: %s",
                    exc.message,
                    extra={"request_id": request_id_of(request.scope)},
                )
    elif isinstance(exc, HTTPException):
        status = exc.status_code
        if status == 400:
            code, field, message = _client_error(exc)
        else:
            code, field = _HTTP_CODES.get(status, "http_error"), None
            message = str(exc.detail or code)
        error = InvalidInput(message, code=code, field=field)
        result = ResultCode.INVALID_REQUEST if status < 500 else ResultCode.SYSTEM_ERROR
        headers = dict(exc.headers or {})
    elif isinstance(exc, UnicodeDecodeError | msgspec.DecodeError):
        result, status = ResultCode.INVALID_REQUEST, 400
        code = "invalid_encoding" if isinstance(exc, UnicodeDecodeError) else "invalid_json"
        error = InvalidInput("请求体不是有效的UTF-8 JSON", code=code)
    else:
        log.exception(
            "unhandled error",
            extra={"request_id": request_id_of(request.scope), "path": request.url.path},
        )
        result, status = ResultCode.SYSTEM_ERROR, 500
        error = FapiaoError("internal error", code="internal_error")
    body = render_outcome(Outcome(result=result, error=error))
    return Response(
        body, status_code=status, media_type="application/json", headers=headers or None
    )
