"""QR payload parsing: DOMAIN.md §1, every real payload, every quirk, every rejection."""

from __future__ import annotations

import datetime as dt
import string
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import verify
from verify import PayloadError, parse_qr

# (payload, kind, code, number, amount, date, check code, tail)
REAL_PAYLOADS = [
    (
        "01,01,1200154130,03630024,94339.62,20160621,,9335,",
        "01", "1200154130", "03630024", "94339.62", "2016-06-21", "", "9335",
    ),
    (
        "01,04,4200161350,00015045,165106.00,20160501,48114255542168294433,DBFE,",
        "04", "4200161350", "00015045", "165106.00", "2016-05-01", "48114255542168294433", "DBFE",
    ),
    (
        "01,10,011001605111,80100798,64.9,20161018,85342965681116380258",
        "10", "011001605111", "80100798", "64.90", "2016-10-18", "85342965681116380258", "",
    ),
    (
        "01,10,044001500111,81966722,173.79,20170524,17884534745749991611,BE2D",
        "10", "044001500111", "81966722", "173.79", "2017-05-24", "17884534745749991611", "BE2D",
    ),
    (
        "01,01,4300171130,02550485,10545.43,20180115,6579,",
        "01", "4300171130", "02550485", "10545.43", "2018-01-15", "", "6579",
    ),
    (
        "01,32,,26427000000316294884,100.76,20260330,,5F98",
        "32", "", "26427000000316294884", "100.76", "2026-03-30", "", "5F98",
    ),
    (
        "01,51,,26339132621000219582,56.00,20260423,,219a",
        "51", "", "26339132621000219582", "56.00", "2026-04-23", "", "219a",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("payload", "kind", "code", "number", "amount", "date", "check", "tail"), REAL_PAYLOADS
)
def test_every_real_payload_parses_to_its_fields(
    payload: str,
    kind: str,
    code: str,
    number: str,
    amount: str,
    date: str,
    check: str,
    tail: str,
) -> None:
    p = parse_qr(payload)
    assert (p.kind, p.code, p.number) == (kind, code, number)
    assert p.amount == Decimal(amount)
    assert isinstance(p.amount, Decimal)
    assert f"{p.amount:.2f}" == amount
    assert p.issue_date == dt.date.fromisoformat(date)
    assert (p.check_code, p.tail) == (check, tail)
    assert p.version == "01"


def test_legacy_key_is_code_plus_number_and_digital_key_is_the_number() -> None:
    assert parse_qr(REAL_PAYLOADS[0][0]).invoice_key == "120015413003630024"
    assert parse_qr(REAL_PAYLOADS[5][0]).invoice_key == "26427000000316294884"


def test_real_payloads_carry_derived_kind_and_region() -> None:
    special = parse_qr(REAL_PAYLOADS[0][0])
    assert (special.derived_kind, special.region) == ("01", "1200")
    electronic = parse_qr(REAL_PAYLOADS[3][0])
    assert (electronic.derived_kind, electronic.region) == ("10", "4400")
    digital = parse_qr(REAL_PAYLOADS[5][0])
    assert digital.derived_kind is None
    assert digital.region == "4200"  # digits 3-4 of the 20-digit number: 42 湖北


# -- quirks --------------------------------------------------------------------------------

BASE = "01,10,044001500111,81966722,173.79,20170524,17884534745749991611,BE2D"


def test_trailing_comma_is_tolerated() -> None:
    assert parse_qr(BASE + ",") == parse_qr(BASE)


def test_seven_fields_without_tail() -> None:
    p = parse_qr("01,10,044001500111,81966722,173.79,20170524,17884534745749991611")
    assert (p.check_code, p.tail) == ("17884534745749991611", "")


def test_seven_fields_with_trailing_comma_and_missing_check_slot() -> None:
    p = parse_qr("01,01,4300171130,02550485,10545.43,20180115,6579,")
    assert (p.check_code, p.tail) == ("", "6579")


def test_seven_fields_without_trailing_comma_and_missing_check_slot() -> None:
    p = parse_qr("01,01,4300171130,02550485,10545.43,20180115,6579")
    assert (p.check_code, p.tail) == ("", "6579")


def test_empty_check_code_and_empty_tail_are_kept() -> None:
    p = parse_qr("01,01,1200154130,03630024,94339.62,20160621,,")
    assert (p.check_code, p.tail) == ("", "")


@pytest.mark.parametrize(
    ("amount", "expected"), [("173", "173.00"), ("173.7", "173.70"), ("173.79", "173.79")]
)
def test_amount_with_zero_one_or_two_decimals(amount: str, expected: str) -> None:
    p = parse_qr(BASE.replace("173.79", amount))
    assert f"{p.amount:.2f}" == expected
    assert p.amount == Decimal(expected)


@pytest.mark.parametrize("tail", ["BE2D", "be2d", "Be2d", "ZZZZ", "0000", "x", "a1b2c3d4e5f6"])
def test_tail_is_opaque_in_any_case(tail: str) -> None:
    assert parse_qr(BASE.replace("BE2D", tail)).tail == tail


@pytest.mark.parametrize(
    "variant",
    [
        "  " + BASE + "  ",
        "\n" + BASE + "\r\n",
        "\t" + BASE,
        "\ufeff" + BASE,
        "\ufeff " + BASE + " \n",
        BASE.replace(",", "，"),
        BASE.replace(",", "，", 3),
        BASE.replace(",", " , "),
        "\u3000" + BASE + "\u3000",
        BASE.replace(",", "，") + "，",
        BASE.translate({ord(c): 0xFF10 + int(c) for c in "0123456789"}),  # OCR full-width digits
        BASE.replace("173.79", "１７３．７９"),
        BASE.replace(",", ",\u200b"),  # zero-width spaces left by a scanner
    ],
)
def test_whitespace_bom_and_full_width_commas_are_tolerated(variant: str) -> None:
    assert parse_qr(variant) == parse_qr(BASE)


def test_qr_kind_20_is_verified_as_08() -> None:
    p = parse_qr("01,20,044001900113,12345678,100.00,20240105,12345678901234567890,ab12")
    assert (p.qr_kind, p.kind) == ("20", "08")
    assert p.derived_kind == "08"


@pytest.mark.parametrize("kind", sorted(verify.QR_KINDS))
def test_every_qr_kind_is_accepted(kind: str) -> None:
    if kind in verify.DIGITAL_KINDS:
        payload = f"01,{kind},,26427000000316294884,100.76,20260330,,5F98"
    else:
        payload = f"01,{kind},044001500111,81966722,173.79,20170524,17884534745749991611,BE2D"
    assert parse_qr(payload).qr_kind == kind


def test_digital_paper_invoice_with_code_and_eight_digit_number() -> None:
    p = parse_qr("01,32,044001500104,12345678,100.76,20260330,,5F98")
    assert (p.code, p.number, p.invoice_key) == ("044001500104", "12345678", "04400150010412345678")


def test_digital_kind_with_code_and_twenty_digit_number_keys_on_the_number() -> None:
    p = parse_qr("01,31,044001500104,26427000000316294884,100.76,20260330,,5F98")
    assert p.invoice_key == "26427000000316294884"


def test_digital_number_with_an_unlisted_region_code_parses_without_a_region() -> None:
    p = parse_qr("01,32,,26957000000316294884,100.76,20260330,,5F98")
    assert (p.invoice_key, p.region) == ("26957000000316294884", None)


def test_negative_amount_of_a_red_invoice_is_kept() -> None:
    assert parse_qr(BASE.replace("173.79", "-173.79")).amount == Decimal("-173.79")


def test_payload_is_a_query_with_the_kinds_secret() -> None:
    ordinary = parse_qr(BASE).to_query()
    assert (ordinary.secret, ordinary.check6) == (verify.Secret.CHECK6, "991611")
    special = parse_qr(REAL_PAYLOADS[0][0]).to_query()
    assert (special.secret, special.amount) == (verify.Secret.AMOUNT, Decimal("94339.62"))
    digital = parse_qr(REAL_PAYLOADS[5][0]).to_query()
    assert (digital.secret, digital.amount) == (verify.Secret.TOTAL, Decimal("100.76"))


def test_legacy_total_kinds_match_the_qr_amount_which_excludes_tax() -> None:
    q = parse_qr("01,15,144001917017,12345678,50000.00,20240105,,ab12").to_query()
    assert (q.secret, q.amount) == (verify.Secret.AMOUNT, Decimal("50000.00"))


def test_ordinary_payload_without_check_code_matches_on_amount() -> None:
    q = parse_qr("01,04,4200161350,00015045,165106.00,20160501,,DBFE").to_query()
    assert (q.secret, q.amount, q.check6) == (verify.Secret.AMOUNT, Decimal("165106.00"), None)


def test_to_json_dict_has_the_cli_fields() -> None:
    d = parse_qr(BASE).to_json_dict()
    assert d["amount"] == "173.79"
    assert d["issue_date"] == "2017-05-24"
    assert d["region_name"] == "广东"
    assert d["amount_basis"] == "excluding_tax"
    assert parse_qr(REAL_PAYLOADS[5][0]).to_json_dict()["amount_basis"] == "total"


# -- rejections ----------------------------------------------------------------------------

REJECTIONS = [
    ("", "payload_empty", None),
    ("   \ufeff \n", "payload_empty", None),
    ("x" * 600, "payload_too_long", None),
    ("01,10,044001500111,81966722,173.79,20170524", "payload_field_count", None),
    (BASE + ",extra,", "payload_field_count", None),
    (BASE + ",,", "payload_field_count", None),
    ("https://example.com/?a=1", "payload_field_count", None),
    (BASE.replace("01,10", "1x,10", 1), "payload_version", "version"),
    (BASE.replace("01,10", ",10", 1), "payload_version", "version"),
    (BASE.replace("01,10", "001,10", 1), "payload_version", "version"),
    (BASE.replace(",10,", ",99,"), "kind_unknown", "kind"),
    (BASE.replace(",10,", ",08,"), "kind_unknown", "kind"),
    (BASE.replace(",10,", ",,"), "kind_unknown", "kind"),
    (BASE.replace("044001500111", ""), "code_missing", "code"),
    (BASE.replace("044001500111", "04400150011"), "code_format", "code"),
    (BASE.replace("044001500111", "04400150011X"), "code_format", "code"),
    (BASE.replace("81966722", "8196672"), "number_format", "number"),
    (BASE.replace("81966722", "00000000"), "number_zero", "number"),
    (BASE.replace("81966722", "8196672a"), "number_format", "number"),
    ("01,32,,2642700000031629488,100.76,20260330,,5F98", "number_format", "number"),
    ("01,32,,26057000000316294884,100.76,20260330,,5F98", "number_province", "number"),
    ("01,32,,81966722,100.76,20260330,,5F98", "number_format", "number"),
    (BASE.replace("173.79", "173.799"), "amount_format", "amount"),
    (BASE.replace("173.79", "173."), "amount_format", "amount"),
    (BASE.replace("173.79", ".79"), "amount_format", "amount"),
    (BASE.replace("173.79", "1,73.79"), "payload_field_count", None),
    (BASE.replace("173.79", "abc"), "amount_format", "amount"),
    (BASE.replace("173.79", ""), "amount_format", "amount"),
    (BASE.replace("173.79", "١٧٣"), "amount_format", "amount"),
    (BASE.replace("20170524", "20170532"), "date_invalid", "date"),
    (BASE.replace("20170524", "20170229"), "date_invalid", "date"),
    (BASE.replace("20170524", "2017052"), "date_format", "date"),
    (BASE.replace("20170524", ""), "date_format", "date"),
    (BASE.replace("17884534745749991611", "1788453474574999161x"), "check_code_format", None),
    (BASE.replace("BE2D", "x" * 65), "payload_tail", "tail"),
]


@pytest.mark.parametrize(("payload", "code", "field"), REJECTIONS)
def test_rejection_has_a_precise_code_and_field(payload: str, code: str, field: str | None) -> None:
    with pytest.raises(PayloadError) as info:
        parse_qr(payload)
    assert info.value.code == code
    if field is not None:
        assert info.value.field == field
    assert info.value.message
    assert info.value.as_dict() == {
        "code": code,
        "field": info.value.field,
        "message": info.value.message,
    }


def test_check_code_rejection_names_the_field() -> None:
    with pytest.raises(PayloadError) as info:
        parse_qr(BASE.replace("17884534745749991611", "1788453474574999161x"))
    assert info.value.field == "check_code"


def test_non_text_is_a_payload_error() -> None:
    with pytest.raises(PayloadError) as info:
        parse_qr(b"01,10")  # type: ignore[arg-type]
    assert info.value.code == "payload_type"


def test_payload_error_is_invalid_input() -> None:
    assert issubclass(PayloadError, verify.InvalidInput)
    assert issubclass(verify.InvalidInput, verify.FapiaoError)


# -- properties ----------------------------------------------------------------------------

_digits = string.digits
_legacy_codes = st.one_of(
    # 10 digits: a known province, year, batch, kind digit, copies, edition
    st.builds(
        lambda prov, mid, kd, tail: f"{prov}00{mid}{kd}{tail}",
        st.sampled_from(sorted(verify.PROVINCES)),
        st.text(_digits, min_size=3, max_size=3),
        st.sampled_from("135672"),
        st.text(_digits, min_size=2, max_size=2),
    ),
    # 12 digits: 0, region, year, batch, kind suffix
    st.builds(
        lambda prov, mid, suffix: f"0{prov}00{mid}{suffix}",
        st.sampled_from(sorted(verify.PROVINCES)),
        st.text(_digits, min_size=5, max_size=5),
        st.sampled_from(["04", "05", "06", "07", "11", "12", "13", "17"]),
    ),
)
_legacy_numbers = st.text(_digits, min_size=8, max_size=8).filter(lambda n: n != "00000000")
_digital_numbers = st.builds(
    lambda yy, prov, rest: f"{yy}{prov}{rest}",
    st.text(_digits, min_size=2, max_size=2),
    st.sampled_from(sorted(verify.PROVINCES)),
    st.text(_digits, min_size=16, max_size=16),
)
_amounts = st.decimals(
    min_value=Decimal("-9999999999.99"),
    max_value=Decimal("9999999999.99"),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)
_tails = st.text(string.ascii_letters + string.digits, min_size=1, max_size=8)


@st.composite
def valid_invoices(draw: st.DrawFn) -> dict[str, object]:
    qr_kind = draw(st.sampled_from(sorted(verify.QR_KINDS)))
    if qr_kind in verify.DIGITAL_KINDS:
        code, number = "", draw(_digital_numbers)
    else:
        code, number = draw(_legacy_codes), draw(_legacy_numbers)
    return {
        "qr_kind": qr_kind,
        "code": code,
        "number": number,
        "amount": draw(_amounts),
        "date": draw(st.dates(dt.date(1990, 1, 1), dt.date(2099, 12, 31))),
        "check_code": draw(st.one_of(st.just(""), st.text(_digits, min_size=20, max_size=20))),
        "tail": draw(st.one_of(st.just(""), _tails)),
        "decimals": draw(st.sampled_from([0, 1, 2])),
        "trailing_comma": draw(st.booleans()),
        "full_width": draw(st.booleans()),
    }


def _format(inv: dict[str, object]) -> str:
    amount = inv["amount"]
    assert isinstance(amount, Decimal)
    decimals = inv["decimals"]
    # fewer decimals only where the value allows it, as issuers print them
    text = f"{amount:.2f}"
    if decimals == 1 and text.endswith("0"):
        text = text[:-1]
    elif decimals == 0 and text.endswith(".00"):
        text = text[:-3]
    date = inv["date"]
    assert isinstance(date, dt.date)
    fields = [
        "01",
        inv["qr_kind"],
        inv["code"],
        inv["number"],
        text,
        date.strftime("%Y%m%d"),
        inv["check_code"],
        inv["tail"],
    ]
    line = ",".join(str(f) for f in fields)
    if inv["tail"] == "" and inv["check_code"] and not inv["trailing_comma"]:
        line = line[:-1]  # seven fields, no tail slot
    elif inv["trailing_comma"]:
        line += ","
    return line.replace(",", "，") if inv["full_width"] else line


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_invoices())
def test_formatting_then_parsing_any_valid_invoice_round_trips(inv: dict[str, object]) -> None:
    p = parse_qr(_format(inv))
    assert p.qr_kind == inv["qr_kind"]
    assert p.kind == verify.verification_kind(str(inv["qr_kind"]))
    assert (p.code, p.number) == (inv["code"], inv["number"])
    assert p.amount == inv["amount"]
    assert p.issue_date == inv["date"]
    assert (p.check_code, p.tail) == (inv["check_code"], inv["tail"])
    assert p.invoice_key == verify.invoice_key(p.code, p.number)
    if p.code:
        assert p.derived_kind == verify.derive_kind(p.code)
        assert p.region == verify.tax_region(p.code[1:5] if len(p.code) == 12 else p.code[:4])
    else:
        assert p.region == str(inv["number"])[2:4] + "00"


def _assert_only_payload_error(text: str) -> None:
    """Parses, or raises PayloadError with a code and message; anything else fails."""
    error: PayloadError | None = None
    try:
        p = parse_qr(text)
    except PayloadError as exc:
        error = exc
    if error is None:
        assert isinstance(p, verify.QrPayload)
    else:
        assert error.code
        assert error.message


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_no_text_makes_the_parser_raise_anything_but_payload_error(text: str) -> None:
    _assert_only_payload_error(text)


_near_field = st.one_of(
    st.text(_digits, max_size=22),
    st.text(_digits + ".-", max_size=16),
    st.sampled_from(["", " ", "01", "10", "32", "20", "08", "١٢", "\ufeff", "0" * 8, "9" * 20]),
    st.text(max_size=6),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(_near_field, min_size=5, max_size=10),
    st.sampled_from([",", "，"]),
    st.booleans(),
)
def test_no_comma_separated_near_payload_raises_anything_but_payload_error(
    fields: list[str], sep: str, trailing: bool
) -> None:
    _assert_only_payload_error(sep.join(fields) + (sep if trailing else ""))


@settings(max_examples=200, deadline=None)
@given(valid_invoices(), st.integers(0, 7), st.text(max_size=8))
def test_no_mutated_valid_payload_raises_anything_but_payload_error(
    inv: dict[str, object], index: int, replacement: str
) -> None:
    fields = _format(inv).replace("，", ",").split(",")
    if index < len(fields):
        fields[index] = replacement
    _assert_only_payload_error(",".join(fields))
