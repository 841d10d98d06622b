"""Validators for single fields, shared by QR parsing, manual entry and ingest.

Each returns the normalised value or raises :class:`FieldError` naming the field
and a stable reason code.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from decimal import Decimal, InvalidOperation

from verify._errors import FieldError, IssuedToday
from verify._kinds import derive_kind, region_digits, tax_region

_AMOUNT = re.compile(r"-?\d{1,13}(?:\.\d{0,2})?", re.ASCII)
_CHECK_CODE = re.compile(r"\d{5,32}", re.ASCII)
_DATE_SEPARATORS = frozenset("-/.")
_CENT = Decimal("0.01")

# Full-width ASCII forms (U+FF01-FF5E) and the ideographic space, as OCR and Chinese
# input methods produce them ("１２３", "，", "．"), mapped to plain ASCII; zero-width
# characters and the BOM, which scanners leave behind, removed.
_TO_ASCII: dict[int, int | None] = {0xFF01 + i: 0x21 + i for i in range(94)}
_TO_ASCII |= {0x3000: 0x20, 0xFEFF: None, 0x200B: None, 0x200C: None, 0x200D: None, 0x2060: None}


def to_ascii_forms(text: str) -> str:
    """Full-width forms to ASCII and invisible characters dropped; everything else kept."""
    return text.translate(_TO_ASCII)


def validate_code(code: str) -> str:
    """A legacy invoice code: 10 or 12 digits whose kind and region are known."""
    code = code.strip()
    if not code.isascii() or not code.isdigit():
        raise FieldError("发票代码只能包含数字", code="code_not_digits", field="code")
    if len(code) not in (10, 12):
        raise FieldError("发票代码应为10位或12位数字", code="code_length", field="code")
    if derive_kind(code) is None:
        raise FieldError("无法从发票代码识别票种", code="code_unknown_kind", field="code")
    region = region_digits(code)
    if region is None or tax_region(region) is None:
        raise FieldError("发票代码中的地区代码无效", code="code_region", field="code")
    return code


def validate_legacy_number(number: str) -> str:
    """A legacy invoice number: exactly 8 digits, not all zeros."""
    number = number.strip()
    if not number.isascii() or not number.isdigit() or len(number) != 8:
        raise FieldError("发票号码应为8位数字", code="number_format", field="number")
    if number == "00000000":
        raise FieldError("发票号码不能全为0", code="number_zero", field="number")
    return number


def validate_digital_number(number: str) -> str:
    """A 数电 number: 20 digits, digits 3-4 a region code.

    The tax authority's own description says digits 3-4 are the code of a province
    *or a separately planned city*; the cities' two-digit values are not published
    where we could check them, so any code outside ``PROVINCES`` is tolerated (its
    region is then unknown). Only ``0x``, which no region code starts with, is wrong.
    """
    number = number.strip()
    if not number.isascii() or not number.isdigit() or len(number) != 20:
        raise FieldError("数电发票号码应为20位数字", code="number_format", field="number")
    if number[2] == "0":
        raise FieldError("数电发票号码第3-4位应为地区代码", code="number_province", field="number")
    return number


def parse_date(text: str, *, field: str = "date") -> dt.date:
    """``YYYYMMDD`` or ``YYYY-MM-DD`` (also ``/`` or ``.`` separated) to a calendar date."""
    text = text.strip()
    separated = len(text) == 10 and text[4] == text[7] and text[4] in _DATE_SEPARATORS
    compact = text[:4] + text[5:7] + text[8:] if separated else text
    if len(compact) != 8 or not compact.isascii() or not compact.isdigit():
        raise FieldError("开票日期格式应为YYYY-MM-DD", code="date_format", field=field)
    try:
        return dt.date(int(compact[:4]), int(compact[4:6]), int(compact[6:]))
    except ValueError:
        raise FieldError("开票日期不是有效日期", code="date_invalid", field=field) from None


def parse_amount(text: str, *, field: str = "amount") -> Decimal:
    """A money amount with 0-2 decimals (red invoices are negative)."""
    text = text.strip()
    if not _AMOUNT.fullmatch(text) or text.endswith("."):
        raise FieldError("金额格式不正确（最多两位小数）", code="amount_format", field=field)
    try:
        return Decimal(text).quantize(_CENT)
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        raise FieldError("金额格式不正确", code="amount_format", field=field) from None


def validate_check_code(text: str) -> str:
    """A printed check code: digits (20 on current invoices); may be empty."""
    text = text.strip()
    if text and (not text.isascii() or not _CHECK_CODE.fullmatch(text)):
        raise FieldError("校验码应为数字", code="check_code_format", field="check_code")
    return text


def validate_check6(text: str) -> str:
    """The last six digits of the check code, as typed by a user."""
    text = text.strip()
    if len(text) > 6 and text.isascii() and text.isdigit():
        text = text[-6:]  # a user pasting the whole code means its tail
    if len(text) != 6 or not text.isascii() or not text.isdigit():
        raise FieldError("请输入校验码后6位数字", code="check6_format", field="check6")
    return text


@functools.lru_cache(maxsize=8)  # the same today and window on every verification
def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def check_issue_date(
    issue_date: dt.date, *, today: dt.date, same_day: bool, window_years: int = 5
) -> None:
    """The platform's date rules: not in the future, within the window, same-day rule."""
    if issue_date > today:
        raise FieldError("开票日期不能晚于今天", code="date_future", field="date")
    if issue_date < _years_before(today, window_years):
        raise FieldError(
            f"只能查验{window_years}年以内开具的发票", code="date_too_old", field="date"
        )
    if issue_date == today and not same_day:
        raise IssuedToday("当日开具发票可于次日进行查验", field="date")
