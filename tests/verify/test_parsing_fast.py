"""The QR parser's fast route gives exactly what its general route gives.

``parse_qr`` tries a precompiled regex for the canonical ASCII line first and falls
back to the general route (every DOMAIN.md §1 quirk, every error) for anything else.
These properties generate clean, near-clean and quirky lines and require identical
payloads (the amount's exponent included), identical queries and identical errors.
"""

from __future__ import annotations

import datetime as dt
import itertools
import string
from decimal import Decimal

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import verify
from ingest._generate import iter_invoices_and_events, qr_line
from verify import PayloadError, _parsing, parse_qr

_digits = string.digits
_alnum = string.ascii_letters + string.digits

Outcome = tuple[object, ...]


def _outcome(parse: object, text: str) -> Outcome:
    assert callable(parse)
    try:
        payload = parse(text)
    except PayloadError as exc:
        return ("error", type(exc), exc.code, exc.field, exc.message)
    assert isinstance(payload, verify.QrPayload)
    fields = msgspec.structs.asdict(payload)
    amount = fields.pop("amount")
    assert isinstance(amount, Decimal)
    query = msgspec.structs.asdict(payload.to_query())
    q_amount = query.pop("amount")
    q_exp = q_amount.as_tuple() if isinstance(q_amount, Decimal) else q_amount
    return ("ok", fields, amount.as_tuple(), query, q_exp)


def _assert_same(text: str) -> None:
    general = _outcome(_parsing._parse_general, text)
    assert _outcome(parse_qr, text) == general
    fast = _parsing._parse_fast(text)
    if fast is not None:
        assert _outcome(lambda _: fast, text) == general


_codes = st.one_of(
    st.just(""),
    st.sampled_from(["1200154130", "4200161350", "011001605111", "044001500111", "144031539110"]),
    st.builds(
        lambda prov, mid, kd, tail: f"{prov}00{mid}{kd}{tail}",
        st.sampled_from([*sorted(verify.PROVINCES), "99", "21", "33"]),
        st.text(_digits, min_size=3, max_size=3),
        st.sampled_from(_digits),
        st.text(_digits, min_size=2, max_size=2),
    ),
    st.builds(
        lambda head, prov, mid, suffix: f"{head}{prov}00{mid}{suffix}",
        st.sampled_from("01"),
        st.sampled_from([*sorted(verify.PROVINCES), "00", "44"]),
        st.text(_digits, min_size=5, max_size=5),
        st.text(_digits, min_size=2, max_size=2),
    ),
    st.text(_digits, max_size=13),
)
_numbers = st.one_of(
    st.text(_digits, min_size=8, max_size=8),
    st.just("00000000"),
    st.text(_digits, min_size=20, max_size=20),
    st.builds(
        lambda yy, rest: f"{yy}0{rest}",
        st.text(_digits, min_size=2, max_size=2),
        st.text(_digits, min_size=17, max_size=17),
    ),
    st.text(_digits, max_size=22),
)
_amounts = st.one_of(
    st.builds(
        lambda sign, whole, frac: f"{sign}{whole}{frac}",
        st.sampled_from(["", "", "-"]),
        st.text(_digits, min_size=1, max_size=14),
        st.one_of(
            st.just(""), st.just("."), st.text(_digits, min_size=1, max_size=3).map(".{}".format)
        ),
    ),
    st.sampled_from(["0", "-0", "0.00", "-0.0", ".5", "1.", "1e3", "1,000", "", "-"]),
)
_dates = st.one_of(
    st.dates(dt.date(1990, 1, 1), dt.date(2099, 12, 31)).map(lambda d: d.strftime("%Y%m%d")),
    st.text(_digits, min_size=8, max_size=8),
    st.sampled_from(["20230230", "20240229", "20230229", "00000101", "2023-01-05", "2023015"]),
)
_checks = st.one_of(
    st.just(""),
    st.text(_digits, min_size=20, max_size=20),
    st.text(_digits, min_size=5, max_size=9),
    st.text(_digits, max_size=34),
    st.sampled_from(["12345a", "6579"]),
)
_tails = st.one_of(
    st.just(""),
    st.text(_alnum, min_size=1, max_size=4),
    st.text(_alnum, min_size=60, max_size=66),
    st.text(_digits, min_size=1, max_size=12),
    st.sampled_from(["DB FE", "de-ad", "\u00e9", "a\nb"]),
)


@st.composite
def near_lines(draw: st.DrawFn) -> str:
    """Canonical-looking lines, and lines one decision away from canonical."""
    fields = [
        draw(st.sampled_from(["01", "1", "99", "001", "", "0a"])),
        draw(st.sampled_from([*sorted(verify.QR_KINDS), "08", "99", "1", "001", ""])),
        draw(_codes),
        draw(_numbers),
        draw(_amounts),
        draw(_dates),
        draw(_checks),
        draw(_tails),
    ]
    shape = draw(st.sampled_from(["eight", "no_tail", "no_check_slot", "six", "nine"]))
    if shape == "no_tail":
        fields.pop()
    elif shape == "no_check_slot":
        del fields[6]
    elif shape == "six":
        del fields[6:]
    elif shape == "nine":
        fields.append(draw(_tails))
    return ",".join(fields) + "," * draw(st.sampled_from([0, 0, 1, 2]))


_FULL_WIDTH = {ord(c): ord(c) + 0xFEE0 for c in _digits + ","}


@st.composite
def quirky_lines(draw: st.DrawFn) -> str:
    """A near line as scans deliver it: full-width forms, invisible characters, spaces."""
    line = draw(near_lines())
    chars = list(line)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(chars)))
        quirk = draw(
            st.sampled_from(["full_width", "\u200b", "\ufeff", "\u2060", " ", "\u3000", "\t"])
        )
        if quirk == "full_width" and i < len(chars):
            chars[i] = chars[i].translate(_FULL_WIDTH)
        elif quirk != "full_width":
            chars.insert(i, quirk)
    prefix = draw(st.sampled_from(["", " ", "\ufeff", "\n"]))
    suffix = draw(st.sampled_from(["", " ", "\r\n", "\u200b"]))
    return prefix + "".join(chars) + suffix


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_lines())
@example("01,01,1200154130,03630024,94339.62,20160621,,9335,")
@example("01,01,4300171130,02550485,10545.43,20180115,6579,")
@example("01,01,4300171130,02550485,10545.43,20180115,65791,")
@example("01,10,011001605111,80100798,64.9,20161018,85342965681116380258")
@example("01,10,011001605111,80100798,64.9,20161018,85342965681116380258,")
@example("01,10,011001605111,80100798,64,20161018,,")
@example("01,10,011001605111,80100798,64,20161018,")
@example("01,32,,26427000000316294884,100.76,20260330,,5F98")
@example("01,32,1100171130,26427000000316294884,100.76,20260330,,5F98,")
@example("01,04,1100171130,26427000000316294884,100.76,20260330,,5F98,")
@example("01,32,,26027000000316294884,100.76,20260330,,5F98")
@example("01,20,044001500111,81966722,-0.5,20170524,17884534745749991611,BE2D")
def test_clean_and_near_lines_parse_identically_on_both_routes(line: str) -> None:
    _assert_same(line)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(quirky_lines())
@example("０１,01,1200154130,03630024,94339.62,20160621,,9335,")
@example("01，32，，26427000000316294884，100.76，20260330，，5F98")
@example("\ufeff01,10,044001500111,81966722,173.79,20170524,17884534745749991611,BE2D\n")
@example("01,10,044001500111,8196\u200b6722,173.79,20170524,17884534745749991611,BE2D")
def test_quirky_lines_parse_identically_on_both_routes(line: str) -> None:
    _assert_same(line)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_identically_on_both_routes(text: str) -> None:
    _assert_same(text)


def test_the_lines_printers_emit_take_the_fast_route() -> None:
    """Otherwise a regex slip would silently cost every verification the slow route."""
    lines = [qr_line(r) for r, _ in itertools.islice(iter_invoices_and_events(300, 5), 300)]
    lines += [
        "01,04,4200161350,00015045,165106.00,20160501,48114255542168294433,DBFE,",
        "01,10,011001605111,80100798,64.9,20161018,85342965681116380258",
        "01,51,,26339132621000219582,56.00,20260423,,219a",
    ]
    for line in lines:
        fast = _parsing._parse_fast(line)
        assert fast is not None, line
        assert _outcome(lambda _, p=fast: p, line) == _outcome(_parsing._parse_general, line)


@pytest.mark.parametrize(
    "line",
    [
        "01,01,4300171130,02550485,10545.43,20180115,6579,",  # 7 fields: the 7th is the tail
        " 01,10,011001605111,80100798,64.9,20161018,85342965681116380258",
        "01,10,011001605111,80100798,64.9,20161018,85342965681116380258,DB FE",
        "01,10,011001605111,80100798,64.9,20230229,85342965681116380258",
        "01,99,011001605111,80100798,64.9,20161018,85342965681116380258",
    ],
)
def test_doubtful_lines_go_the_general_route(line: str) -> None:
    assert _parsing._parse_fast(line) is None


def test_code_and_date_memos_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_parsing, "_MEMO_MAX", 2)
    monkeypatch.setattr(_parsing, "_code_facts", {})
    monkeypatch.setattr(_parsing, "_dates", {})
    codes = ["1200154130", "4200161350", "011001605111", "044001500111"]
    for i, code in enumerate(codes):
        line = f"01,10,{code},8010079{i},64.9,2016101{i},85342965681116380258"
        assert parse_qr(line).derived_kind == verify.derive_kind(code)
        assert len(_parsing._code_facts) <= 2
        assert len(_parsing._dates) <= 2
