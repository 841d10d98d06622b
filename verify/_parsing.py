"""Parsing the comma-separated QR payload printed on every invoice (DOMAIN.md §1).

    version, kind, code, number, amount, issue date, check code, tail

Tolerated, because real scans contain them: surrounding whitespace and BOM,
full-width commas, empty fields, 7 or 8 fields with or without a trailing comma,
0-2 decimals, a tail in any case. Anything else raises :class:`PayloadError`.

One parser, two routes: the line printers actually emit (plain ASCII, 7 or 8 fields,
a 10+ digit or empty check code, an alphanumeric tail) is recognised whole by one
precompiled regex and its fields only checked for what the regex cannot know (kind,
number rules, calendar date); anything else, and any line the fast route has a doubt
about, goes the general route, which alone decides errors. Both give identical results
(tests/verify/test_parsing_fast.py checks it on generated clean and quirky lines).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from verify._errors import FieldError, PayloadError
from verify._fields import (
    parse_amount,
    parse_date,
    to_ascii_forms,
    validate_check_code,
    validate_digital_number,
    validate_legacy_number,
)
from verify._kinds import (
    DIGITAL_KINDS,
    QR_KINDS,
    derive_kind,
    invoice_key,
    region_digits,
    tax_region,
    verification_kind,
)
from verify._query import QrPayload

MAX_PAYLOAD_CHARS = 512
"""Real payloads are under 100 characters; anything far longer is not one."""

# The canonical line, its lengths checked after the match (cheaper than alternations):
# version, kind, code (empty, 10 or 12 digits), number (8 or 20), amount (0-2
# decimals), date, check code (empty or 10-32 digits: a shorter one is where 7-field
# lines are ambiguous, so it goes the general route), then an optional alphanumeric
# tail and an optional trailing comma.
_FAST_QR = re.compile(
    r"(\d{1,2}),(\d\d),(\d*),(\d+),(-?\d{1,13}(?:\.\d{1,2})?),(\d{8}),(\d*)"
    r"(?:,([0-9A-Za-z]{0,64}))?,?",
    re.ASCII,
)
_VERIFICATION_KIND = {qr_kind: verification_kind(qr_kind) for qr_kind in QR_KINDS}
_CENT = Decimal("0.01")
_MEMO_MAX = 65_536
_code_facts: dict[str, tuple[str | None, str | None]] = {}
"""Code -> (derived kind, region): the few thousand live codes, bounded."""
_number_regions: dict[str, str | None] = {}
"""A 数电 number's digits 3-4 -> region (at most 100 keys)."""
_dates: dict[str, dt.date] = {}
"""``YYYYMMDD`` -> date: a few thousand days are verifiable, bounded."""


def _split_fields(text: str) -> list[str]:
    if not text.isascii():  # the usual scan is plain ASCII: nothing to translate
        text = to_ascii_forms(text)
    text = text.strip()
    if not text:
        raise PayloadError("二维码内容为空", code="payload_empty")
    if len(text) > MAX_PAYLOAD_CHARS:
        raise PayloadError("二维码内容过长，不是发票二维码", code="payload_too_long")
    fields = [field.strip() for field in text.split(",")]
    if len(fields) in (8, 9) and fields[-1] == "" and text.endswith(","):
        fields.pop()  # the trailing comma many issuers print
    if len(fields) not in (7, 8):
        raise PayloadError(
            f"发票二维码应有7或8个字段，实际为{len(fields)}个", code="payload_field_count"
        )
    if len(fields) == 7:
        # Seven fields: either the tail is missing (the 7th is the check code) or
        # the check-code slot is (the 7th is the short tail).
        seventh = fields[6]
        is_check_code = seventh.isascii() and seventh.isdigit() and len(seventh) >= 10
        fields = [*fields, ""] if is_check_code else [*fields[:6], "", seventh]
    return fields


def parse_qr(text: str) -> QrPayload:
    """Parse one QR payload line into normalised fields.

    Raises :class:`PayloadError` (with ``field`` set where one field is at fault).
    """
    if not isinstance(text, str):
        raise PayloadError("二维码内容必须是文本", code="payload_type")
    return _parse_fast(text) or _parse_general(text)


def _parse_fast(text: str) -> QrPayload | None:
    """The canonical line's payload, or None to send it the general route."""
    match = _FAST_QR.fullmatch(text)
    if match is None:
        return None
    version, qr_kind, code, number, amount_text, date_text, check, tail = match.groups()
    kind = _VERIFICATION_KIND.get(qr_kind)
    if kind is None or (check and not 10 <= len(check) <= 32):
        return None
    if not code:
        if kind not in DIGITAL_KINDS or len(number) != 20 or number[2] == "0":
            return None
        key = number
        derived_kind = None
        region = _number_region(number)
    elif len(code) != 10 and len(code) != 12:
        return None
    else:
        if len(number) == 20:
            if kind not in DIGITAL_KINDS or number[2] == "0":
                return None
            key = number
        elif len(number) != 8 or number == "00000000":
            return None
        else:
            key = code + number
        derived_kind, region = _facts_of_code(code)
    issue_date = _dates.get(date_text) or _calendar_date(date_text)
    if issue_date is None:
        return None
    amount = Decimal(amount_text)
    if len(amount_text) < 4 or amount_text[-3] != ".":
        amount = amount.quantize(_CENT)  # two decimals already are what quantize gives
    return QrPayload(
        version=version,
        qr_kind=qr_kind,
        kind=kind,
        code=code,
        number=number,
        amount=amount,
        issue_date=issue_date,
        check_code=check,
        tail=tail or "",
        invoice_key=key,
        derived_kind=derived_kind,
        region=region,
    )


def _facts_of_code(code: str) -> tuple[str | None, str | None]:
    facts = _code_facts.get(code)
    if facts is None:
        region_code = region_digits(code)
        facts = (derive_kind(code), tax_region(region_code) if region_code else None)
        if len(_code_facts) >= _MEMO_MAX:
            _code_facts.clear()
        _code_facts[code] = facts
    return facts


def _calendar_date(text: str) -> dt.date | None:
    try:
        day = dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None
    if len(_dates) >= _MEMO_MAX:
        _dates.clear()
    _dates[text] = day
    return day


def _number_region(number: str) -> str | None:
    province = number[2:4]
    try:
        return _number_regions[province]
    except KeyError:
        region = _number_regions[province] = _digital_region(number)
        return region


def _parse_general(text: str) -> QrPayload:
    """Every tolerated quirk and every error (DOMAIN.md §1)."""
    version, qr_kind, code, number, amount_text, date_text, check_code, tail = _split_fields(text)
    if not (version.isascii() and version.isdigit() and 1 <= len(version) <= 2):
        raise PayloadError("二维码版本字段无效", code="payload_version", field="version")
    if qr_kind not in QR_KINDS:
        raise PayloadError(f"未知的发票种类代码：{qr_kind[:8]}", code="kind_unknown", field="kind")
    kind = verification_kind(qr_kind)
    try:
        code, number = _code_and_number(kind, code, number)
        amount = parse_amount(amount_text)
        issue_date = parse_date(date_text)
        check_code = validate_check_code(check_code)
    except FieldError as exc:
        raise PayloadError(exc.message, code=exc.code, field=exc.field) from None
    if "\n" in tail or len(tail) > 64:
        raise PayloadError("二维码尾部字段无效", code="payload_tail", field="tail")
    region_code = region_digits(code) if code else None
    return QrPayload(
        version=version,
        qr_kind=qr_kind,
        kind=kind,
        code=code,
        number=number,
        amount=amount,
        issue_date=issue_date,
        check_code=check_code,
        tail=tail,
        invoice_key=invoice_key(code, number),
        derived_kind=derive_kind(code) if code else None,
        region=tax_region(region_code) if region_code else _digital_region(number),
    )


def _code_and_number(kind: str, code: str, number: str) -> tuple[str, str]:
    if kind in DIGITAL_KINDS and not code:
        return code, validate_digital_number(number)
    if not code:
        raise FieldError("该票种的二维码必须包含发票代码", code="code_missing", field="code")
    if not code.isascii() or not code.isdigit() or len(code) not in (10, 12):
        raise FieldError("发票代码应为10位或12位数字", code="code_format", field="code")
    if kind in DIGITAL_KINDS and len(number) == 20:
        return code, validate_digital_number(number)
    return code, validate_legacy_number(number)


def _digital_region(number: str) -> str | None:
    """A 数电 number's province (digits 3-4) as a tax region."""
    return tax_region(number[2:4] + "00") if len(number) == 20 else None
