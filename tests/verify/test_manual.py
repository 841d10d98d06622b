"""Manual entry (DOMAIN.md §3): the secret element each kind needs, and the date rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verify import (
    DIGITAL,
    FieldError,
    InvoiceQuery,
    IssuedToday,
    Secret,
    parse_qr,
    query_from_fields,
)

TODAY = dt.date(2026, 4, 15)
DIGITAL_NUMBER = "26427000000316294884"

# kind -> a code of that kind (region 4400 / 4403)
CODES = {
    "01": "4400161130",
    "02": "4400161230",
    "03": "144031920001",
    "04": "4400161330",
    "08": "044031500113",
    "10": "044031500111",
    "11": "044031500106",
    "14": "044031500112",
    "15": "044031500117",
}


def _query(**kwargs: object) -> InvoiceQuery:
    fields: dict[str, object] = {"number": "12345678", "date": "2026-03-30", "today": TODAY}
    fields.update(kwargs)
    return query_from_fields(**fields)  # type: ignore[arg-type]


def _error(**kwargs: object) -> FieldError:
    with pytest.raises(FieldError) as info:
        _query(**kwargs)
    return info.value


@pytest.mark.parametrize("kind", ["01", "08", "03"])
def test_special_and_motor_vehicle_need_the_amount_excluding_tax(kind: str) -> None:
    q = _query(code=CODES[kind], amount="94339.6")
    assert (q.kind, q.secret, q.amount, q.check6) == (
        kind,
        Secret.AMOUNT,
        Decimal("94339.60"),
        None,
    )
    assert q.secret_value == "94339.60"
    err = _error(code=CODES[kind], check6="123456")
    assert (err.code, err.field) == ("amount_missing", "amount")


@pytest.mark.parametrize("kind", ["02", "15"])
def test_freight_and_used_car_need_the_total(kind: str) -> None:
    q = _query(code=CODES[kind], total="1000")
    assert (q.kind, q.secret, q.amount) == (kind, Secret.TOTAL, Decimal("1000.00"))
    err = _error(code=CODES[kind], check6="123456")
    assert (err.code, err.field) == ("total_missing", "total")


@pytest.mark.parametrize("kind", ["04", "10", "11", "14"])
def test_ordinary_kinds_need_the_last_six_of_the_check_code(kind: str) -> None:
    q = _query(code=CODES[kind], check6="294433")
    assert (q.kind, q.secret, q.check6, q.amount) == (kind, Secret.CHECK6, "294433", None)
    assert q.secret_value == "294433"
    err = _error(code=CODES[kind], amount="100")
    assert (err.code, err.field) == ("check6_missing", "check6")
    assert _error(code=CODES[kind], check6="12345").code == "check6_format"


def test_ordinary_kind_takes_the_last_six_of_a_pasted_full_check_code() -> None:
    assert _query(code=CODES["10"], check6="48114255542168294433").check6 == "294433"


def test_digital_number_without_code_needs_the_total_including_tax() -> None:
    q = _query(code="", number=DIGITAL_NUMBER, total="100.76")
    assert (q.kind, q.secret, q.amount) == (DIGITAL, Secret.TOTAL, Decimal("100.76"))
    assert (q.code, q.invoice_key, q.derived_kind, q.region) == ("", DIGITAL_NUMBER, None, "4200")
    assert _error(code=None, number=DIGITAL_NUMBER, check6="123456").code == "total_missing"


def test_total_kinds_accept_a_generic_amount_box_as_the_total() -> None:
    q = _query(code=None, number=DIGITAL_NUMBER, amount="100.76")
    assert (q.secret, q.amount) == (Secret.TOTAL, Decimal("100.76"))
    assert _error(code=None, number=DIGITAL_NUMBER, amount="1.234").field == "amount"
    assert _query(code=CODES["15"], amount="88").amount == Decimal("88.00")


def test_full_width_digits_from_a_chinese_input_method_are_accepted() -> None:
    q = _query(code="４４００１６１３３０", number="０３６３００２４", date="２０２６－０３－３０",
               check6="２９４４３３")  # fmt: skip
    assert (q.code, q.number, q.check6) == ("4400161330", "03630024", "294433")
    assert q.issue_date == dt.date(2026, 3, 30)
    wide = DIGITAL_NUMBER.translate({ord(c): 0xFF10 + int(c) for c in "0123456789"})
    t = _query(code=None, number=wide, total="１００．７６")
    assert (t.number, t.amount) == (DIGITAL_NUMBER, Decimal("100.76"))


def test_legacy_query_carries_key_derived_kind_and_region() -> None:
    q = _query(code=" 4400161130 ", number=" 03630024 ", amount="1")
    assert (q.code, q.number, q.invoice_key) == ("4400161130", "03630024", "440016113003630024")
    assert (q.derived_kind, q.region) == ("01", "4400")
    assert _query(code=CODES["10"], check6="123456").region == "4403"


def test_date_may_be_a_date_object() -> None:
    assert _query(code=CODES["01"], amount="1", date=dt.date(2026, 1, 2)).issue_date == dt.date(
        2026, 1, 2
    )


@pytest.mark.parametrize(
    ("kwargs", "code", "field"),
    [
        ({"code": CODES["01"], "number": "", "amount": "1"}, "number_missing", "number"),
        ({"code": "", "number": "12345678", "amount": "1"}, "code_missing", "code"),
        ({"code": None, "number": "2642700000031629488", "total": "1"}, "code_missing", "code"),
        (
            {"code": None, "number": "26097000000316294884", "total": "1"},
            "number_province",
            "number",
        ),
        ({"code": "4400161930", "amount": "1"}, "code_unknown_kind", "code"),
        ({"code": "440016113", "amount": "1"}, "code_length", "code"),
        ({"code": "44001611x0", "amount": "1"}, "code_not_digits", "code"),
        ({"code": CODES["01"], "number": "00000000", "amount": "1"}, "number_zero", "number"),
        ({"code": CODES["01"], "number": DIGITAL_NUMBER, "amount": "1"}, "number_format", "number"),
        ({"code": CODES["01"], "date": "2026-02-30", "amount": "1"}, "date_invalid", "date"),
        ({"code": CODES["01"], "date": "", "amount": "1"}, "date_format", "date"),
        ({"code": CODES["01"], "amount": "1.999"}, "amount_format", "amount"),
        ({"code": CODES["02"], "total": "abc"}, "amount_format", "total"),
    ],
)
def test_rejections_name_the_field(kwargs: dict[str, object], code: str, field: str) -> None:
    err = _error(**kwargs)
    assert err.field == field
    assert err.code == code
    assert err.message


# -- date rules ----------------------------------------------------------------------------


def test_future_issue_date_is_rejected() -> None:
    err = _error(code=CODES["01"], amount="1", date="2026-04-16")
    assert (err.code, err.field) == ("date_future", "date")


def test_issue_date_older_than_five_years_is_rejected() -> None:
    _query(code=CODES["01"], amount="1", date="2021-04-15")
    err = _error(code=CODES["01"], amount="1", date="2021-04-14")
    assert (err.code, err.field) == ("date_too_old", "date")


def test_window_years_is_passed_through() -> None:
    assert _error(code=CODES["01"], amount="1", date="2023-04-14", window_years=3).code == (
        "date_too_old"
    )


def test_leap_day_window_edges() -> None:
    leap_today = dt.date(2028, 2, 29)
    _query(code=CODES["01"], amount="1", date="2023-02-28", today=leap_today)
    err = _error(code=CODES["01"], amount="1", date="2023-02-27", today=leap_today)
    assert err.code == "date_too_old"
    _query(code=CODES["01"], amount="1", date="2024-02-29", today=dt.date(2029, 2, 28))


def test_same_day_is_accepted_when_on() -> None:
    _query(code=CODES["01"], amount="1", date=TODAY.isoformat(), same_day=True)


def test_same_day_raises_issued_today_when_off() -> None:
    with pytest.raises(IssuedToday) as info:
        _query(code=CODES["01"], amount="1", date=TODAY.isoformat(), same_day=False)
    assert (info.value.code, info.value.field) == ("issued_today", "date")
    _query(code=CODES["01"], amount="1", date="2026-04-14", same_day=False)


def test_without_today_the_date_rules_are_not_applied() -> None:
    q = _query(code=CODES["01"], amount="1", date="2099-01-01", today=None)
    assert q.issue_date == dt.date(2099, 1, 1)


# -- robustness ----------------------------------------------------------------------------

_field_text = st.one_of(
    st.none(),
    st.text(max_size=24),
    st.text("0123456789", max_size=22),
    st.sampled_from(["", "4400161130", "044031500111", DIGITAL_NUMBER, "2026-03-30", "1.5"]),
)


@settings(max_examples=300, deadline=None)
@given(
    code=_field_text,
    number=st.one_of(st.text(max_size=24), st.text("0123456789", max_size=22)),
    date=st.one_of(st.text(max_size=12), st.sampled_from(["2026-04-15", "20260101", "20210101"])),
    check6=_field_text,
    amount=_field_text,
    total=_field_text,
    same_day=st.booleans(),
)
def test_arbitrary_fields_raise_nothing_but_field_error(
    code: str | None,
    number: str,
    date: str,
    check6: str | None,
    amount: str | None,
    total: str | None,
    same_day: bool,
) -> None:
    error: FieldError | None = None
    try:
        q = query_from_fields(
            code=code,
            number=number,
            date=date,
            check6=check6,
            amount=amount,
            total=total,
            today=TODAY,
            same_day=same_day,
        )
    except FieldError as exc:
        error = exc
    if error is None:
        assert isinstance(q, InvoiceQuery)
        assert q.secret_value
    else:
        assert error.code
        assert error.field


_legacy_code = st.one_of(
    st.builds(
        lambda prov, mid, kd, tail: f"{prov}00{mid}{kd}{tail}",
        st.sampled_from(["11", "31", "44", "65", "21", "35"]),
        st.text("0123456789", min_size=3, max_size=3),
        st.sampled_from("135672"),
        st.text("0123456789", min_size=2, max_size=2),
    ),
    st.builds(
        lambda region, mid, suffix: f"0{region}{mid}{suffix}",
        st.sampled_from(["1100", "4403", "2102", "3302", "3502", "3702", "4401"]),
        st.text("0123456789", min_size=5, max_size=5),
        st.sampled_from(["04", "05", "06", "07", "11", "12", "13", "17"]),
    ),
)


@settings(max_examples=150, deadline=None)
@given(
    code=_legacy_code,
    number=st.text("0123456789", min_size=8, max_size=8).filter(lambda n: n != "00000000"),
    days_ago=st.integers(0, 365 * 5),
    check_code=st.text("0123456789", min_size=20, max_size=20),
    amount=st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False),
)
def test_manual_entry_and_qr_name_the_same_invoice(
    code: str, number: str, days_ago: int, check_code: str, amount: Decimal
) -> None:
    issued = TODAY - dt.timedelta(days=days_ago)
    q = query_from_fields(
        code=code,
        number=number,
        date=issued.isoformat(),
        check6=check_code[-6:],
        amount=f"{amount:.2f}",
        total=f"{amount:.2f}",
        today=TODAY,
    )
    qr_kind = "20" if q.kind == "08" else q.kind
    p = parse_qr(f"01,{qr_kind},{code},{number},{amount},{issued:%Y%m%d},{check_code},ab12")
    assert (p.invoice_key, p.kind, p.derived_kind, p.region) == (
        q.invoice_key,
        q.kind,
        q.derived_kind,
        q.region,
    )
    assert p.issue_date == q.issue_date
    if q.secret is Secret.CHECK6:
        assert p.to_query().check6 == q.check6
    elif q.secret is Secret.AMOUNT:
        assert p.to_query().amount == q.amount
