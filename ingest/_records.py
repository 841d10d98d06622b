"""One import record (a dict from NDJSON or CSV) -> a validated Invoice or InvoiceEvent.

Every check uses the verify core's own validators, so what ingest accepts is
exactly what verification can later match. A bad row raises :class:`RowError`
with a stable ``code`` and the ``field`` it concerns; the rejects file shows both.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from zoneinfo import ZoneInfo

import verify
from ingest._status import DIGITAL_PAPER_KINDS
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

INVOICE_KINDS: Final = frozenset(verify.KIND_NAMES) - {"20"}
"""Verification kinds an invoice record may carry (QR kind 20 is stored as 08)."""
PARTY_FIELDS: Final = ("tax_id", "name", "address", "phone", "bank", "account")
_ITEM_TEXT: Final = ("name", "spec", "unit")
_MAX_TEXT: Final = 2000
_CHINA: Final = ZoneInfo("Asia/Shanghai")


class RowError(Exception):
    """A record that cannot be loaded; ``code`` is stable, ``field`` names the culprit."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        self.message = message


def is_event(record: dict[str, Any]) -> bool:
    return "event_id" in record


def _text(record: dict[str, Any], name: str, *, required: bool = False, field: str = "") -> str:
    value = record.get(name, "")
    field = field or name
    if value is None:
        value = ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RowError("field_type", f"{field} must be a string", field)
    value = str(value).strip()
    if required and not value:
        raise RowError("field_missing", f"{field} is required", field)
    if len(value) > _MAX_TEXT:
        raise RowError("field_too_long", f"{field} is longer than {_MAX_TEXT} characters", field)
    return value


def _money(value: Any, field: str) -> Decimal:
    if value is None or value == "":
        raise RowError("field_missing", f"{field} is required", field)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RowError("amount_format", f"{field} must be a decimal string", field)
    try:
        return verify.parse_amount(str(value), field=field)
    except FieldError as exc:
        raise RowError(exc.code, f"{field}: {exc.message}", field) from None


def _decimal(value: Any, field: str) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RowError("decimal_format", f"{field} must be a decimal string", field)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise RowError("decimal_format", f"{field} is not a decimal number", field) from None
    if not number.is_finite():
        raise RowError("decimal_format", f"{field} is not a finite number", field)
    return number


def _party(raw: Any, role: str, *, tax_id_required: bool) -> Party:
    if raw is None or raw == "":
        raw = {}
    if not isinstance(raw, dict):
        raise RowError("field_type", f"{role} must be an object", role)
    values = {f: _text(raw, f, field=f"{role}.{f}") for f in PARTY_FIELDS}
    if values["tax_id"] or tax_id_required:
        if not values["tax_id"]:
            raise RowError("field_missing", f"{role}.tax_id is required", f"{role}.tax_id")
        try:
            values["tax_id"] = verify.validate_tax_id(values["tax_id"], field=f"{role}.tax_id")
        except FieldError as exc:
            raise RowError(exc.code, f"{role}.tax_id: {exc.message}", exc.field) from None
    return Party(**values)


def _items(raw: Any) -> tuple[LineItem, ...]:
    if raw is None or raw == "":
        return ()
    if not isinstance(raw, list):
        raise RowError("field_type", "items must be a list", "items")
    items = []
    for i, item in enumerate(raw):
        where = f"items[{i}]"
        if not isinstance(item, dict):
            raise RowError("field_type", f"{where} must be an object", where)
        rate = _decimal(item.get("tax_rate"), f"{where}.tax_rate")
        if rate is None or not Decimal(0) <= rate < 1:
            raise RowError(
                "tax_rate", f"{where}.tax_rate must be a fraction such as 0.13", f"{where}.tax_rate"
            )
        amount = _money(item.get("amount"), f"{where}.amount")
        tax = _money(item.get("tax"), f"{where}.tax")
        items.append(
            LineItem(
                name=_text(item, "name", required=True, field=f"{where}.name"),
                spec=_text(item, "spec", field=f"{where}.spec"),
                unit=_text(item, "unit", field=f"{where}.unit"),
                quantity=_decimal(item.get("quantity"), f"{where}.quantity"),
                unit_price=_decimal(item.get("unit_price"), f"{where}.unit_price"),
                amount=amount,
                tax_rate=rate,
                tax=tax,
            )
        )
    return tuple(items)


def parse_invoice(record: dict[str, Any]) -> Invoice:
    """Validate an invoice record; raises :class:`RowError`."""
    kind = _text(record, "kind", required=True)
    if kind not in INVOICE_KINDS:
        raise RowError("unknown_kind", f"unknown invoice kind {kind!r}", "kind")
    code = _text(record, "code")
    number = _text(record, "number", required=True)
    try:
        if kind in DIGITAL_KINDS:
            if code and kind not in DIGITAL_PAPER_KINDS:
                raise RowError("code_not_empty", "数电 invoices have no invoice code", "code")
            if code:  # a 数电 paper invoice: the paper stock's code beside the number
                code = verify.validate_code(code)
            number = verify.validate_digital_number(number)
        else:
            code = verify.validate_code(code)
            number = verify.validate_legacy_number(number)
            derived = verify.derive_kind(code)
            if derived != kind:
                raise RowError(
                    "kind_mismatch", f"code {code} is of kind {derived}, not {kind}", "kind"
                )
        issue_date = verify.parse_date(
            _text(record, "issue_date", required=True), field="issue_date"
        )
        check_code = verify.validate_check_code(_text(record, "check_code"))
    except FieldError as exc:
        raise RowError(exc.code, exc.message, exc.field) from None
    amount = _money(record.get("amount"), "amount")
    tax = _money(record.get("tax"), "tax")
    total = _money(record.get("total"), "total")
    if amount + tax != total:
        raise RowError("total_mismatch", f"amount {amount} + tax {tax} != total {total}", "total")
    items = _items(record.get("items"))
    if items:
        if sum((i.amount for i in items), Decimal(0)) != amount:
            raise RowError(
                "items_amount_mismatch", "items' amounts do not add up to amount", "items"
            )
        if sum((i.tax for i in items), Decimal(0)) != tax:
            raise RowError("items_tax_mismatch", "items' taxes do not add up to tax", "items")
    status_text = _text(record, "status") or Status.NORMAL.value
    try:
        status = Status(status_text)
    except ValueError:
        raise RowError("unknown_status", f"unknown status {status_text!r}", "status") from None
    risk_text = _text(record, "risk_level") or RiskLevel.NORMAL.value
    try:
        risk = RiskLevel(risk_text)
    except ValueError:
        raise RowError(
            "unknown_risk_level", f"unknown risk level {risk_text!r}", "risk_level"
        ) from None
    key = verify.invoice_key(code, number)
    given_key = _text(record, "invoice_key")
    if given_key and given_key != key:
        raise RowError("invoice_key_mismatch", f"invoice_key should be {key}", "invoice_key")
    return Invoice(
        invoice_key=key,
        kind=kind,
        code=code,
        number=number,
        issue_date=issue_date,
        amount=amount,
        tax=tax,
        total=total,
        check_code=check_code,
        status=status,
        risk_level=risk,
        seller=_party(record.get("seller"), "seller", tax_id_required=True),
        buyer=_party(record.get("buyer"), "buyer", tax_id_required=False),
        items=items,
        machine_no=_text(record, "machine_no"),
        remarks=_text(record, "remarks"),
    )


def _event_key(record: dict[str, Any]) -> str:
    key = _text(record, "invoice_key")
    if not key:
        code, number = _text(record, "code"), _text(record, "number")
        if not number:
            raise RowError(
                "field_missing", "invoice_key (or code + number) is required", "invoice_key"
            )
        key = verify.invoice_key(code, number)
    if not (key.isascii() and key.isdigit() and len(key) in (18, 20)):
        raise RowError("invoice_key_format", "invoice_key must be 18 or 20 digits", "invoice_key")
    return key


def _event_time(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise RowError(
            "event_time_format", "event_time must be ISO 8601 with a UTC offset", "event_time"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=_CHINA)  # the authority's records are in China time
    return value.astimezone(dt.UTC)


def _detail(raw: Any) -> dict[str, str]:
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, dict):
        raise RowError("field_type", "detail must be an object", "detail")
    out = {}
    for k, v in raw.items():
        if isinstance(v, dict | list):
            raise RowError("field_type", f"detail.{k} must be a string", f"detail.{k}")
        out[str(k)] = "" if v is None else str(v)
    return out


def parse_event(record: dict[str, Any]) -> InvoiceEvent:
    """Validate an event record; raises :class:`RowError`."""
    event_id = _text(record, "event_id", required=True)
    if len(event_id) > 128:
        raise RowError("event_id_too_long", "event_id is longer than 128 characters", "event_id")
    kind_text = _text(record, "kind", required=True)
    try:
        kind = EventKind(kind_text)
    except ValueError:
        raise RowError("unknown_event_kind", f"unknown event kind {kind_text!r}", "kind") from None
    actor = _text(record, "actor_tax_id")
    if actor:
        try:
            actor = verify.validate_tax_id(actor, field="actor_tax_id")
        except FieldError as exc:
            raise RowError(exc.code, f"actor_tax_id: {exc.message}", exc.field) from None
    detail = _detail(record.get("detail"))
    if kind is EventKind.RED_ISSUED:
        if detail.get("scope") not in ("full", "partial"):
            raise RowError(
                "red_scope", "red_issued needs detail.scope full or partial", "detail.scope"
            )
        if detail.get("amount"):
            _money(detail["amount"], "detail.amount")
    return InvoiceEvent(
        event_id=event_id,
        invoice_key=_event_key(record),
        event_time=_event_time(_text(record, "event_time", required=True)),
        kind=kind,
        actor_tax_id=actor,
        channel=_text(record, "channel"),
        detail=detail,
    )
