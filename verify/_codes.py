"""The national platform's verification result codes (DOMAIN.md §3)."""

from __future__ import annotations

import enum


class ResultCode(enum.StrEnum):
    """Result codes integrators already know; the values are the national ones."""

    VERIFIED = "001"
    DAILY_LIMIT = "002"
    TOO_FREQUENT = "003"
    AT_CAPACITY = "004"
    INVALID_REQUEST = "005"
    MISMATCH = "006"
    NOT_FOUND = "009"
    SYSTEM_ERROR = "015"
    ISSUED_TODAY = "rqerr"

    @property
    def message_zh(self) -> str:
        return _MESSAGES[self][0]

    @property
    def message_en(self) -> str:
        return _MESSAGES[self][1]

    @property
    def http_status(self) -> int:
        """The HTTP status that fits the result (the body always carries the code)."""
        return _HTTP_STATUS[self]


_MESSAGES: dict[ResultCode, tuple[str, str]] = {
    ResultCode.VERIFIED: ("查验成功，发票信息一致", "Verified: the details match"),
    ResultCode.DAILY_LIMIT: (
        "该发票今日查验次数已达上限，请明日再试",
        "This invoice reached its daily verification limit; try again tomorrow",
    ),
    ResultCode.TOO_FREQUENT: ("查验请求过于频繁，请稍后再试", "Too many requests; slow down"),
    ResultCode.AT_CAPACITY: ("服务繁忙，请稍后再试", "The service is at capacity; try again later"),
    ResultCode.INVALID_REQUEST: ("查验请求不合法", "The request is not valid"),
    ResultCode.MISMATCH: ("发票信息不一致", "The details do not match"),
    ResultCode.NOT_FOUND: ("查无此票", "No such invoice"),
    ResultCode.SYSTEM_ERROR: ("系统错误，请稍后再试", "System error; try again later"),
    ResultCode.ISSUED_TODAY: (
        "当日开具发票可于次日进行查验",
        "Issued today: it can be verified from tomorrow",
    ),
}

_HTTP_STATUS: dict[ResultCode, int] = {
    ResultCode.VERIFIED: 200,
    ResultCode.DAILY_LIMIT: 429,
    ResultCode.TOO_FREQUENT: 429,
    ResultCode.AT_CAPACITY: 503,
    ResultCode.INVALID_REQUEST: 400,
    ResultCode.MISMATCH: 200,
    ResultCode.NOT_FOUND: 404,
    ResultCode.SYSTEM_ERROR: 503,
    ResultCode.ISSUED_TODAY: 425,
}
