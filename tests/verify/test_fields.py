"""Single-field validators (DOMAIN.md §2-§3): code, number, date, amount, check codes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from verify import (
    FieldError,
    IssuedToday,
    check_issue_date,
    parse_amount,
    parse_date,
    validate_check6,
    validate_check_code,
    validate_code,
    validate_digital_number,
    validate_legacy_number,
)


def _error(func: object, *args: object, **kwargs: object) -> FieldError:
    assert callable(func)
    with pytest.raises(FieldError) as info:
        func(*args, **kwargs)
    return info.value


# -- code ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    ["1200154130", "4200161350", "011001605111", "044001500111", "144031539110", "144001920001"],
)
def test_valid_codes_are_returned_stripped(code: str) -> None:
    assert validate_code(f" {code} ") == code


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("12001541a0", "code_not_digits"),
        ("１２００１５４１３０", "code_not_digits"),
        ("", "code_not_digits"),
        ("120015413", "code_length"),
        ("12001541300", "code_length"),
        ("1200154130123", "code_length"),
        ("1200154930", "code_unknown_kind"),  # digit 8 is 9
        ("044001500199", "code_unknown_kind"),  # suffix 99
        ("144001910011", "code_unknown_kind"),  # not VAT, digit 8 not 2
        ("9900154130", "code_region"),  # province 99
        ("099001500111", "code_region"),
    ],
)
def test_invalid_codes_say_why(code: str, reason: str) -> None:
    err = _error(validate_code, code)
    assert (err.code, err.field) == (reason, "code")


# -- numbers -------------------------------------------------------------------------------


def test_legacy_number_is_eight_digits_not_all_zero() -> None:
    assert validate_legacy_number(" 03630024 ") == "03630024"
    assert validate_legacy_number("00000001") == "00000001"


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("00000000", "number_zero"),
        ("0363002", "number_format"),
        ("036300245", "number_format"),
        ("0363002x", "number_format"),
        ("０３６３００２４", "number_format"),
        ("", "number_format"),
    ],
)
def test_invalid_legacy_numbers(number: str, reason: str) -> None:
    err = _error(validate_legacy_number, number)
    assert (err.code, err.field) == (reason, "number")


def test_digital_number_is_twenty_digits_with_a_province() -> None:
    assert validate_digital_number("26427000000316294884") == "26427000000316294884"
    assert validate_digital_number("26339132621000219582") == "26339132621000219582"


def test_digital_number_with_an_unlisted_region_code_is_tolerated() -> None:
    # digits 3-4 may be a planned city's code, whose values DOMAIN.md does not list
    assert validate_digital_number("26957000000316294884") == "26957000000316294884"


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("2642700000031629488", "number_format"),
        ("264270000003162948840", "number_format"),
        ("2642700000031629488x", "number_format"),
        ("26097000000316294884", "number_province"),
        ("26007000000316294884", "number_province"),
    ],
)
def test_invalid_digital_numbers(number: str, reason: str) -> None:
    err = _error(validate_digital_number, number)
    assert (err.code, err.field) == (reason, "number")


# -- dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["20260330", "2026-03-30", " 2026-03-30 ", "2026/03/30", "2026.03.30"]
)
def test_dates_compact_or_separated(text: str) -> None:
    assert parse_date(text) == dt.date(2026, 3, 30)


def test_leap_day_is_a_date() -> None:
    assert parse_date("20240229") == dt.date(2024, 2, 29)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026033", "date_format"),
        ("2026-3-30", "date_format"),
        ("30/03/2026", "date_format"),
        ("2026-03_30", "date_format"),
        ("２０２６０３３０", "date_format"),
        ("", "date_format"),
        ("20261301", "date_invalid"),
        ("20260431", "date_invalid"),
        ("20230229", "date_invalid"),
        ("00000101", "date_invalid"),
    ],
)
def test_invalid_dates(text: str, reason: str) -> None:
    err = _error(parse_date, text)
    assert (err.code, err.field) == (reason, "date")


def test_date_field_name_can_be_chosen() -> None:
    assert _error(parse_date, "x", field="issue_date").field == "issue_date"


TODAY = dt.date(2026, 4, 15)


def test_future_date_is_rejected() -> None:
    err = _error(check_issue_date, dt.date(2026, 4, 16), today=TODAY, same_day=True)
    assert (err.code, err.field) == ("date_future", "date")


def test_five_year_window_is_inclusive_of_the_same_day_five_years_ago() -> None:
    check_issue_date(dt.date(2021, 4, 15), today=TODAY, same_day=True)
    err = _error(check_issue_date, dt.date(2021, 4, 14), today=TODAY, same_day=True)
    assert (err.code, err.field) == ("date_too_old", "date")


def test_window_years_is_a_parameter() -> None:
    check_issue_date(dt.date(2016, 4, 15), today=TODAY, same_day=True, window_years=10)
    err = _error(check_issue_date, dt.date(2024, 4, 14), today=TODAY, same_day=True, window_years=2)
    assert err.code == "date_too_old"


def test_window_from_a_leap_day_ends_on_28_february() -> None:
    today = dt.date(2028, 2, 29)
    check_issue_date(dt.date(2023, 2, 28), today=today, same_day=True)
    assert _error(check_issue_date, dt.date(2023, 2, 27), today=today, same_day=True).code == (
        "date_too_old"
    )


def test_invoice_issued_on_a_leap_day_ages_out_after_five_years() -> None:
    issued = dt.date(2024, 2, 29)
    check_issue_date(issued, today=dt.date(2029, 2, 28), same_day=True)
    err = _error(check_issue_date, issued, today=dt.date(2029, 3, 1), same_day=True)
    assert err.code == "date_too_old"


def test_same_day_allowed_when_setting_is_on() -> None:
    check_issue_date(TODAY, today=TODAY, same_day=True)


def test_same_day_raises_issued_today_when_setting_is_off() -> None:
    with pytest.raises(IssuedToday) as info:
        check_issue_date(TODAY, today=TODAY, same_day=False)
    assert (info.value.code, info.value.field) == ("issued_today", "date")
    assert isinstance(info.value, FieldError)
    check_issue_date(TODAY - dt.timedelta(days=1), today=TODAY, same_day=False)


# -- amounts and check codes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100", "100.00"),
        ("100.7", "100.70"),
        ("100.76", "100.76"),
        (" 0.01 ", "0.01"),
        ("-56.00", "-56.00"),
        ("1234567890123.45", "1234567890123.45"),
    ],
)
def test_amounts_are_decimals_with_two_places(text: str, expected: str) -> None:
    value = parse_amount(text)
    assert isinstance(value, Decimal)
    assert value == Decimal(expected)
    assert str(value) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1.",
        ".5",
        "1.234",
        "1e3",
        "1,000.00",
        "¥100",
        "NaN",
        "inf",
        "١٠٠",
        "12345678901234",
        "+1",
    ],
)
def test_invalid_amounts(text: str) -> None:
    err = _error(parse_amount, text)
    assert (err.code, err.field) == ("amount_format", "amount")
    assert _error(parse_amount, text, field="total").field == "total"


def test_check_code_may_be_empty_or_digits() -> None:
    assert validate_check_code("") == ""
    assert validate_check_code(" 48114255542168294433 ") == "48114255542168294433"


@pytest.mark.parametrize("text", ["4811425554216829443x", "1234", "１２３４５６", "1" * 33])
def test_invalid_check_codes(text: str) -> None:
    err = _error(validate_check_code, text)
    assert (err.code, err.field) == ("check_code_format", "check_code")


def test_check6_is_six_digits_or_the_tail_of_a_pasted_code() -> None:
    assert validate_check6(" 294433 ") == "294433"
    assert validate_check6("48114255542168294433") == "294433"


@pytest.mark.parametrize("text", ["", "29443", "29443x", "２９４４３３", "abcdefg"])
def test_invalid_check6(text: str) -> None:
    err = _error(validate_check6, text)
    assert (err.code, err.field) == ("check6_format", "check6")
