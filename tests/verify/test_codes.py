"""The national result codes (DOMAIN.md §3) and the exception tree they are reported with."""

from __future__ import annotations

import pytest

import verify
from verify import ResultCode

NATIONAL = {
    "VERIFIED": "001",
    "DAILY_LIMIT": "002",
    "TOO_FREQUENT": "003",
    "AT_CAPACITY": "004",
    "INVALID_REQUEST": "005",
    "MISMATCH": "006",
    "NOT_FOUND": "009",
    "SYSTEM_ERROR": "015",
    "ISSUED_TODAY": "rqerr",
}


def test_values_are_exactly_the_national_codes() -> None:
    assert {c.name: c.value for c in ResultCode} == NATIONAL


@pytest.mark.parametrize("value", sorted(NATIONAL.values()))
def test_codes_round_trip_from_their_value_and_compare_as_strings(value: str) -> None:
    code = ResultCode(value)
    assert code == value
    assert str(code) == value
    assert f"{code}" == value


@pytest.mark.parametrize("code", list(ResultCode))
def test_every_code_has_chinese_and_english_messages(code: ResultCode) -> None:
    assert code.message_zh
    assert code.message_en
    assert any("\u4e00" <= ch <= "\u9fff" for ch in code.message_zh)
    assert code.message_en.isascii()


def test_messages_users_know() -> None:
    assert ResultCode.NOT_FOUND.message_zh == "查无此票"
    assert ResultCode.ISSUED_TODAY.message_zh == "当日开具发票可于次日进行查验"
    assert "不一致" in ResultCode.MISMATCH.message_zh
    assert "上限" in ResultCode.DAILY_LIMIT.message_zh


def test_messages_are_distinct() -> None:
    assert len({c.message_zh for c in ResultCode}) == len(ResultCode)
    assert len({c.message_en for c in ResultCode}) == len(ResultCode)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (ResultCode.VERIFIED, 200),
        (ResultCode.MISMATCH, 200),
        (ResultCode.DAILY_LIMIT, 429),
        (ResultCode.TOO_FREQUENT, 429),
        (ResultCode.AT_CAPACITY, 503),
        (ResultCode.INVALID_REQUEST, 400),
        (ResultCode.NOT_FOUND, 404),
        (ResultCode.SYSTEM_ERROR, 503),
        (ResultCode.ISSUED_TODAY, 425),
    ],
)
def test_http_status_per_code(code: ResultCode, status: int) -> None:
    assert code.http_status == status


def test_only_server_side_failures_are_5xx() -> None:
    server = {c for c in ResultCode if c.http_status >= 500}
    assert server == {ResultCode.AT_CAPACITY, ResultCode.SYSTEM_ERROR}


# -- the exception tree --------------------------------------------------------------------


def test_exception_tree() -> None:
    assert issubclass(verify.InvalidInput, verify.FapiaoError)
    assert issubclass(verify.PayloadError, verify.InvalidInput)
    assert issubclass(verify.FieldError, verify.InvalidInput)
    assert issubclass(verify.IssuedToday, verify.FieldError)
    assert issubclass(verify.StoreError, verify.FapiaoError)
    assert issubclass(verify.CacheError, verify.FapiaoError)
    assert not issubclass(verify.StoreError, verify.InvalidInput)
    assert not issubclass(verify.CacheError, verify.InvalidInput)


@pytest.mark.parametrize(
    ("cls", "default"),
    [
        (verify.FapiaoError, "error"),
        (verify.InvalidInput, "invalid_input"),
        (verify.PayloadError, "invalid_payload"),
        (verify.FieldError, "invalid_field"),
        (verify.IssuedToday, "issued_today"),
        (verify.StoreError, "store_error"),
        (verify.CacheError, "cache_error"),
    ],
)
def test_every_error_has_a_default_machine_code(
    cls: type[verify.FapiaoError], default: str
) -> None:
    err = cls("boom")
    assert (err.code, err.field, err.message, str(err)) == (default, None, "boom", "boom")
    assert err.as_dict() == {"code": default, "field": None, "message": "boom"}


def test_code_and_field_are_carried_and_shown() -> None:
    err = verify.FieldError("bad date", code="date_future", field="date")
    assert err.as_dict() == {"code": "date_future", "field": "date", "message": "bad date"}
    assert "date_future" in repr(err)
    assert "FieldError" in repr(err)
