"""Invoice fields from printed text (a PDF's text layer, OCR lines, OFD text).

The labels are the ones every invoice prints (发票代码, 发票号码, 开票日期, 校验码,
合计, 价税合计（小写）); values are validated by the verify core, and a complete set
is turned into the canonical QR line so every source yields a :class:`QrPayload`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from verify import FieldError, PayloadError, QrPayload, derive_kind, parse_qr

_SPACE = re.compile(r"[ \t\u3000]+")
_SEP = r"\s*[:：!！;；|]?\s*"
"""A label's colon, as printed or as OCR misreads it."""
_CODE = re.compile(r"发\s*票\s*代\s*码" + _SEP + r"(\d{10,12})(?!\d)")
_NUMBER = re.compile(r"发\s*票\s*号\s*码" + _SEP + r"(\d{20}|\d{8})(?!\d)")
_YMD = r"(\d{4})\s*[年\-/.]\s*(\d{1,2})\s*[月\-/.]\s*(\d{1,2})"
_DATE = re.compile(r"开\s*票\s*日\s*期" + _SEP + _YMD)
_CHECK = re.compile(r"校\s*验\s*码" + _SEP + r"((?:\d\s*){20})")
# OCR drops or misreads a label's first characters (开日期, 拨票号码, 开票日期1 for the
# colon): the labels' last two characters, then at most two non-digits, still
# anchor the value; tried only when the full label is not found.
_LOOSE = {
    "code": re.compile(r"代\s*码\D{0,2}?(\d{10,12})(?!\d)"),
    "number": re.compile(r"号\s*码\D{0,2}?(\d{20}|\d{8})(?!\d)"),
    "date": re.compile(r"日\s*期\D{0,2}?[1lI|]?" + _YMD),
    "check": re.compile(r"验\s*码\D{0,2}?((?:\d\s*){20})"),
}
_TOTAL = re.compile(r"[（(]\s*小\s*写\s*[)）]\s*[¥￥Y]?\s*(-?[\d,]+\.\d{1,2})")
_TOTAL_LOOSE = re.compile(r"[（(]\s*小\s*\S?\s*[)）]\s*[¥￥Y]?\s*(-?[\d,]+\.\d{1,2})")
"""（小写） with its second character misread (小霉): tried only when the label is not found."""
_SUMS = re.compile(r"合\s*计\s*[¥￥Y]?\s*(-?[\d,]+\.\d{2})\s*[¥￥Y]?\s*(-?[\d,]+\.\d{2}|\*+)")
_MONEY = re.compile(r"[¥￥]\s*(-?[\d,]+\.\d{2})")


@dataclass(frozen=True)
class TextFields:
    """What was found; any field may be missing."""

    code: str = ""
    number: str = ""
    issue_date: dt.date | None = None
    check_code: str = ""
    amount: Decimal | None = None
    tax: Decimal | None = None
    total: Decimal | None = None
    special: bool = False
    """The title says 专用发票 (a 数电 special invoice is kind 31)."""


def _money(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", "")).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None


def find_fields(text: str) -> TextFields:
    """Scan text for the printed invoice fields."""
    flat = _SPACE.sub(" ", text.replace("\r", "\n"))
    one_line = flat.replace("\n", " ")

    def search(strict: re.Pattern[str], loose: str) -> re.Match[str] | None:
        return strict.search(one_line) or _LOOSE[loose].search(one_line)

    code = m.group(1) if (m := search(_CODE, "code")) else ""
    number = m.group(1) if (m := search(_NUMBER, "number")) else ""
    issue_date = None
    if m := search(_DATE, "date"):
        try:
            issue_date = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            issue_date = None
    check = re.sub(r"\s", "", m.group(1)) if (m := search(_CHECK, "check")) else ""
    m = _TOTAL.search(one_line) or _TOTAL_LOOSE.search(one_line)
    total = _money(m.group(1)) if m else None
    amount = tax = None
    if m := _SUMS.search(one_line):
        amount = _money(m.group(1))
        tax = _money(m.group(2)) if "*" not in m.group(2) else Decimal("0.00")
    if total is not None and amount is None and tax is not None:
        amount = total - tax
    if total is None and amount is not None and tax is not None:
        total = amount + tax
    if amount is None and total is not None:
        # amounts printed as ¥x: the two smaller ones that add up to the total
        values = sorted({v for v in (_money(x) for x in _MONEY.findall(one_line)) if v is not None})
        for a in values:
            if total - a in values and a >= total - a:
                amount, tax = a, total - a
                break
    return TextFields(
        code=code,
        number=number,
        issue_date=issue_date,
        check_code=check,
        amount=amount,
        tax=tax,
        total=total,
        special="专用发票" in one_line.replace(" ", ""),
    )


def canonical_line(
    *,
    code: str,
    number: str,
    issue_date: dt.date,
    amount: Decimal | None,
    total: Decimal | None,
    check_code: str = "",
    special: bool = False,
) -> str | None:
    """The QR line an issuer would have printed for these fields, or None if incomplete."""
    if not code and len(number) == 20:
        qr_kind = "31" if special else "32"
        money = total
    else:
        derived = derive_kind(code) if code else None
        if derived is None:
            return None
        qr_kind = "20" if derived == "08" else derived
        money = amount if amount is not None else None
        if money is None and total is not None and derived in ("02", "15"):
            money = total
    if money is None:
        return None
    return f"01,{qr_kind},{code},{number},{money:.2f},{issue_date:%Y%m%d},{check_code},"


def to_payload(fields: TextFields) -> QrPayload | None:
    """A complete, valid set of fields as a parsed payload; None otherwise."""
    found = to_line_and_payload(fields)
    return found[1] if found else None


def to_line_and_payload(fields: TextFields) -> tuple[str, QrPayload] | None:
    """The QR line the fields would print, and its parse; None unless complete and valid."""
    if not fields.number or fields.issue_date is None:
        return None
    line = canonical_line(
        code=fields.code,
        number=fields.number,
        issue_date=fields.issue_date,
        amount=fields.amount,
        total=fields.total,
        check_code=fields.check_code,
        special=fields.special,
    )
    if line is None:
        return None
    try:
        return line, parse_qr(line)
    except (PayloadError, FieldError):
        return None
