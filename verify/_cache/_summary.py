"""The compact value the hot cache holds per invoice, and how it is built.

One msgpack array (``array_like`` Struct) per invoice: the fields a verification
compares (date, amounts, check code tail), the status, the verifications recorded
before the counting day, and the public JSON of the invoice and its flow, encoded
once when the entry is filled so that a cache hit answers without re-encoding.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

import msgspec

from verify._kinds import kind_name
from verify._model import EventKind, Invoice, InvoiceEvent, LineItem, Party

COUNTED_RESULTS = frozenset({"001", "006"})
"""Results that compared the secret element: they count against the daily limit."""

NEGATIVE = b"-"
"""Cached marker of an invoice the registry does not hold."""


class CachedInvoice(msgspec.Struct, array_like=True, frozen=True, gc=False):
    kind: str
    issue_date: str
    amount: str
    total: str
    check_code: str
    status: str
    count_day: str
    """China-time day (ISO) on which ``prior_count`` was taken."""
    prior_count: int
    """Verifications that counted, recorded before ``count_day``."""
    invoice_json: bytes
    flow_json: bytes


class PublicParty(msgspec.Struct):
    tax_id: str
    name: str
    address: str
    phone: str
    bank: str
    account: str


class PublicItem(msgspec.Struct):
    name: str
    spec: str
    unit: str
    quantity: str | None
    unit_price: str | None
    amount: str
    tax_rate: str
    tax: str


class PublicInvoice(msgspec.Struct):
    invoice_key: str
    kind: str
    kind_name: str
    code: str
    number: str
    issue_date: str
    amount: str
    tax: str
    total: str
    check_code: str
    seller: PublicParty
    buyer: PublicParty
    items: list[PublicItem]
    machine_no: str
    remarks: str
    risk_level: str


class FlowStep(msgspec.Struct, omit_defaults=True):
    time: str
    kind: str
    label: str
    detail: dict[str, str] = msgspec.field(default_factory=dict)


FLOW_LABELS = {
    EventKind.ISSUED: "开具",
    EventKind.DELIVERED: "交付",
    EventKind.USE_CONFIRMED: "用途确认",
    EventKind.BOOKED: "入账",
    EventKind.RED_CONFIRMATION_REQUESTED: "申请红字确认单",
    EventKind.RED_CONFIRMATION_CONFIRMED: "红字确认单已确认",
    EventKind.RED_CONFIRMATION_LAPSED: "红字确认单已失效",
    EventKind.RED_ISSUED: "已开具红字发票",
    EventKind.VOIDED: "作废",
    EventKind.FLAGGED_ABNORMAL: "列为异常凭证",
    EventKind.ABNORMAL_CLEARED: "解除异常凭证",
    EventKind.VERIFIED: "查验",
}
_PUBLIC_FLOW = frozenset(
    {
        EventKind.ISSUED,
        EventKind.DELIVERED,
        EventKind.RED_ISSUED,
        EventKind.VOIDED,
        EventKind.FLAGGED_ABNORMAL,
        EventKind.ABNORMAL_CLEARED,
    }
)
_PUBLIC_DETAIL = {EventKind.RED_ISSUED: ("scope", "amount", "reason")}

_json = msgspec.json.Encoder()
_packer = msgspec.msgpack.Encoder()
unpacker = msgspec.msgpack.Decoder(CachedInvoice)
"""Decodes a cached value (the hit path calls it directly)."""


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def _party(p: Party) -> PublicParty:
    return PublicParty(p.tax_id, p.name, p.address, p.phone, p.bank, p.account)


def _item(i: LineItem) -> PublicItem:
    return PublicItem(
        name=i.name,
        spec=i.spec,
        unit=i.unit,
        quantity=None if i.quantity is None else str(i.quantity),
        unit_price=None if i.unit_price is None else str(i.unit_price),
        amount=f"{i.amount:.2f}",
        tax_rate=str(i.tax_rate),
        tax=f"{i.tax:.2f}",
    )


def public_invoice(inv: Invoice) -> PublicInvoice:
    """What a 001 answer shows of an invoice (DOMAIN.md §3)."""
    return PublicInvoice(
        invoice_key=inv.invoice_key,
        kind=inv.kind,
        kind_name=kind_name(inv.kind),
        code=inv.code,
        number=inv.number,
        issue_date=inv.issue_date.isoformat(),
        amount=f"{inv.amount:.2f}",
        tax=f"{inv.tax:.2f}",
        total=f"{inv.total:.2f}",
        check_code=inv.check_code,
        seller=_party(inv.seller),
        buyer=_party(inv.buyer),
        items=[_item(i) for i in inv.items],
        machine_no=inv.machine_no,
        remarks=inv.remarks,
        risk_level=str(inv.risk_level),
    )


def public_flow(events: Iterable[InvoiceEvent], tz: dt.tzinfo | None = None) -> list[FlowStep]:
    """The flow as the public sees it: lifecycle steps, no parties, no verifications."""
    steps = []
    for ev in sorted(events, key=lambda e: e.event_time):
        if ev.kind not in _PUBLIC_FLOW:
            continue
        keep = _PUBLIC_DETAIL.get(ev.kind, ())
        steps.append(
            FlowStep(
                time=(ev.event_time.astimezone(tz) if tz else ev.event_time).isoformat(),
                kind=str(ev.kind),
                label=FLOW_LABELS[ev.kind],
                detail={k: v for k, v in ev.detail.items() if k in keep},
            )
        )
    return steps


def split_counts(events: Iterable[InvoiceEvent], day_start: dt.datetime) -> tuple[int, int]:
    """Counted verifications recorded (before, since) the start of the counting day."""
    before = since = 0
    for ev in events:
        if ev.kind is EventKind.VERIFIED and ev.detail.get("result") in COUNTED_RESULTS:
            if ev.event_time < day_start:
                before += 1
            else:
                since += 1
    return before, since


def build_summary(
    inv: Invoice,
    events: list[InvoiceEvent],
    *,
    day: dt.date,
    prior_count: int,
    tz: dt.tzinfo | None = None,
) -> CachedInvoice:
    return CachedInvoice(
        kind=inv.kind,
        issue_date=inv.issue_date.isoformat(),
        amount=f"{inv.amount:.2f}",
        total=f"{inv.total:.2f}",
        check_code=inv.check_code,
        status=str(inv.status),
        count_day=day.isoformat(),
        prior_count=prior_count,
        invoice_json=_json.encode(public_invoice(inv)),
        flow_json=_json.encode(public_flow(events, tz)),
    )


def pack(summary: CachedInvoice) -> bytes:
    return _packer.encode(summary)


def unpack(value: bytes) -> CachedInvoice:
    return unpacker.decode(value)
