"""The fast path for NDJSON lines: typed msgspec decoding (shape, patterns and enums
checked in C) plus the verify core's semantic checks, with the repetitive ones
(invoice codes, taxpayer IDs: a few thousand companies issue millions of invoices)
cached.

It accepts a subset of what ingest/_records.py accepts and produces the same
Invoice / InvoiceEvent for it. Anything it does not accept returns ``None`` and
goes through the slow path, which gives the precise reason when the row is bad.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Final
from zoneinfo import ZoneInfo

import msgspec

import verify
from ingest._records import INVOICE_KINDS
from verify import (
    DIGITAL_KINDS,
    EventKind,
    FieldError,
    Invoice,
    InvoiceEvent,
    LineItem,
    Party,
    RiskLevel,
    Status,
)

# Numbers stay strings in the Structs and are checked below with compiled regexes:
# a msgspec ``pattern`` costs ~1.4 us a field, ``re.fullmatch`` a fraction of it.
Money = str
Num = str
Rate = str
Text = Annotated[str, msgspec.Meta(max_length=2000)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
_CENT: Final = Decimal("0.01")
_CHINA: Final = ZoneInfo("Asia/Shanghai")
_CACHE_MAX: Final = 200_000


class _Party(msgspec.Struct, kw_only=True):
    tax_id: Text = ""
    name: Text = ""
    address: Text = ""
    phone: Text = ""
    bank: Text = ""
    account: Text = ""


class _Item(msgspec.Struct, kw_only=True):
    name: Name
    spec: Text = ""
    unit: Text = ""
    quantity: Num | None = None
    unit_price: Num | None = None
    amount: Money
    tax_rate: Rate
    tax: Money


class _Invoice(msgspec.Struct, kw_only=True):
    kind: str
    code: str = ""
    number: str
    issue_date: dt.date
    amount: Money
    tax: Money
    total: Money
    check_code: str = ""
    status: Status = Status.NORMAL
    risk_level: RiskLevel = RiskLevel.NORMAL
    seller: _Party
    buyer: _Party = msgspec.field(default_factory=_Party)
    items: list[_Item] = msgspec.field(default_factory=list)
    machine_no: Text = ""
    remarks: Text = ""
    invoice_key: str = ""


class _Event(msgspec.Struct, kw_only=True):
    event_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    invoice_key: str = ""
    code: str = ""
    number: str = ""
    event_time: dt.datetime
    kind: EventKind
    actor_tax_id: str = ""
    channel: Text = ""
    detail: dict[str, str] = msgspec.field(default_factory=dict)


_invoice_decoder: Final = msgspec.json.Decoder(_Invoice)
_event_decoder: Final = msgspec.json.Decoder(_Event)


class _UseSlowPathError(Exception):
    """Leave this row to the slow path (it knows the precise reason)."""


class _Cache:
    """Bounded memo of a validator: value -> normalised value, or _UseSlowPathError when invalid."""

    def __init__(self, fn: object) -> None:
        self.fn = fn
        self.ok: dict[str, str] = {}

    def __call__(self, value: str) -> str:
        hit = self.ok.get(value)
        if hit is not None:
            return hit
        try:
            result: str = self.fn(value)  # type: ignore[operator]
        except FieldError:
            raise _UseSlowPathError from None
        if len(self.ok) >= _CACHE_MAX:
            self.ok.clear()
        self.ok[value] = result
        return result


def _legacy_code(code: str) -> str:
    return verify.validate_code(code) + "/" + str(verify.derive_kind(code))


_tax_id: Final = _Cache(verify.validate_tax_id)
_code: Final = _Cache(_legacy_code)


def valid_tax_id(tax_id: str) -> bool:
    """Whether ``tax_id`` is a valid taxpayer ID exactly as written (memoised)."""
    try:
        return _tax_id(tax_id) == tax_id
    except _UseSlowPathError:
        return False


def valid_legacy_code(code: str, kind: str) -> bool:
    """Whether ``code`` is a valid legacy invoice code of ``kind`` (memoised)."""
    try:
        return _code(code) == f"{code}/{kind}"
    except _UseSlowPathError:
        return False


def _party(p: _Party, *, tax_id_required: bool) -> Party:
    tax_id = p.tax_id.strip()
    if tax_id:
        tax_id = _tax_id(tax_id)
    elif tax_id_required:
        raise _UseSlowPathError
    return Party(
        tax_id=tax_id,
        name=p.name.strip(),
        address=p.address.strip(),
        phone=p.phone.strip(),
        bank=p.bank.strip(),
        account=p.account.strip(),
    )


_MONEY_RE: Final = re.compile(r"-?\d{1,13}(?:\.\d{1,2})?")
_NUM_RE: Final = re.compile(r"-?\d{1,18}(?:\.\d{1,10})?")
_RATES: Final = {
    f"0.{d}": Decimal(f"0.{d}") for d in ("13", "09", "06", "05", "03", "01", "1", "0", "00")
} | {"0": Decimal(0)}
_RATE_RE: Final = re.compile(r"0(?:\.\d{1,10})?")


def _money(text: str) -> Decimal:
    if _MONEY_RE.fullmatch(text) is None or not text.isascii():
        raise _UseSlowPathError
    return Decimal(text).quantize(_CENT)


def _number(text: str) -> Decimal:
    if _NUM_RE.fullmatch(text) is None or not text.isascii():
        raise _UseSlowPathError
    return Decimal(text)


def _rate(text: str) -> Decimal:
    rate = _RATES.get(text)
    if rate is not None:
        return rate
    if _RATE_RE.fullmatch(text) is None or not text.isascii():
        raise _UseSlowPathError
    return Decimal(text)


def _item(i: _Item) -> LineItem:
    name = i.name.strip()
    if not name:
        raise _UseSlowPathError
    return LineItem(
        name=name,
        spec=i.spec.strip(),
        unit=i.unit.strip(),
        quantity=_number(i.quantity) if i.quantity is not None else None,
        unit_price=_number(i.unit_price) if i.unit_price is not None else None,
        amount=_money(i.amount),
        tax_rate=_rate(i.tax_rate),
        tax=_money(i.tax),
    )


def fast_invoice(line: bytes) -> Invoice | None:
    """The validated invoice of an NDJSON line, or None: use the slow path."""
    try:
        r = _invoice_decoder.decode(line)
        kind, code, number = r.kind, r.code, r.number
        if kind not in INVOICE_KINDS or number != number.strip() or code != code.strip():
            return None
        if kind in DIGITAL_KINDS:
            if code:
                return None
            verify.validate_digital_number(number)
        else:
            if not valid_legacy_code(code, kind):
                return None
            verify.validate_legacy_number(number)
        check_code = verify.validate_check_code(r.check_code)
        amount, tax, total = _money(r.amount), _money(r.tax), _money(r.total)
        if amount + tax != total:
            return None
        items = tuple(_item(i) for i in r.items)
        if items and (sum(i.amount for i in items) != amount or sum(i.tax for i in items) != tax):
            return None
        key = verify.invoice_key(code, number)
        if r.invoice_key and r.invoice_key.strip() != key:
            return None
        return Invoice(
            invoice_key=key,
            kind=kind,
            code=code,
            number=number,
            issue_date=r.issue_date,
            amount=amount,
            tax=tax,
            total=total,
            check_code=check_code,
            status=r.status,
            risk_level=r.risk_level,
            seller=_party(r.seller, tax_id_required=True),
            buyer=_party(r.buyer, tax_id_required=False),
            items=items,
            machine_no=r.machine_no.strip(),
            remarks=r.remarks.strip(),
        )
    except (msgspec.DecodeError, FieldError, _UseSlowPathError, UnicodeDecodeError):
        return None


def fast_event(line: bytes) -> InvoiceEvent | None:
    """The validated event of an NDJSON line, or None: use the slow path."""
    try:
        r = _event_decoder.decode(line)
        event_id = r.event_id.strip()
        key = r.invoice_key.strip() or verify.invoice_key(r.code.strip(), r.number.strip())
        if not event_id or not (key.isascii() and key.isdigit() and len(key) in (18, 20)):
            return None
        actor = _tax_id(r.actor_tax_id.strip()) if r.actor_tax_id.strip() else ""
        detail = r.detail
        if r.kind is EventKind.RED_ISSUED:
            if detail.get("scope") not in ("full", "partial"):
                return None
            if detail.get("amount"):
                verify.parse_amount(detail["amount"], field="detail.amount")
        when = r.event_time
        if when.tzinfo is None:
            when = when.replace(tzinfo=_CHINA)
        return InvoiceEvent(
            event_id=event_id,
            invoice_key=key,
            event_time=when.astimezone(dt.UTC),
            kind=r.kind,
            actor_tax_id=actor,
            channel=r.channel.strip(),
            detail=detail,
        )
    except (msgspec.DecodeError, FieldError, _UseSlowPathError, UnicodeDecodeError):
        return None
