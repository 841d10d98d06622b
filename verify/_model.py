"""The invoice registry's records: invoices, their parties and items, and flow events.

These Structs are the shared language of ingest (which writes them), the store
(which keeps them) and the pipeline (which answers with them).
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

import msgspec


class Status(enum.StrEnum):
    """An invoice's state as the public sees it (DOMAIN.md §3)."""

    NORMAL = "normal"
    VOIDED = "voided"
    RED_REVERSED = "red_reversed"
    PARTLY_RED_REVERSED = "partly_red_reversed"
    ABNORMAL = "abnormal"

    @property
    def label_zh(self) -> str:
        return _STATUS_ZH[self]


_STATUS_ZH = {
    Status.NORMAL: "正常",
    Status.VOIDED: "作废",
    Status.RED_REVERSED: "已全额红冲",
    Status.PARTLY_RED_REVERSED: "已部分红冲",
    Status.ABNORMAL: "异常凭证",
}


class RiskLevel(enum.StrEnum):
    """数电 risk level."""

    NORMAL = "01"
    ABNORMAL = "02"
    SUSPICIOUS = "03"


class EventKind(enum.StrEnum):
    """Steps of the issuance flow (DOMAIN.md §4)."""

    ISSUED = "issued"
    DELIVERED = "delivered"
    USE_CONFIRMED = "use_confirmed"  # detail: deduct / not_deduct / export_refund
    BOOKED = "booked"  # detail: deducted / not_deducted / reversed
    RED_CONFIRMATION_REQUESTED = "red_confirmation_requested"
    RED_CONFIRMATION_CONFIRMED = "red_confirmation_confirmed"
    RED_CONFIRMATION_LAPSED = "red_confirmation_lapsed"
    RED_ISSUED = "red_issued"  # detail: scope full/partial, amount, reason, red invoice key
    VOIDED = "voided"
    FLAGGED_ABNORMAL = "flagged_abnormal"
    ABNORMAL_CLEARED = "abnormal_cleared"
    VERIFIED = "verified"  # channel and result code


STATUS_CHANGING_EVENTS = frozenset(
    {EventKind.RED_ISSUED, EventKind.VOIDED, EventKind.FLAGGED_ABNORMAL, EventKind.ABNORMAL_CLEARED}
)


class Channel(enum.StrEnum):
    """Where a verification (or a delivery) came from."""

    WEB = "web"
    API = "api"
    SMS = "sms"
    BATCH = "batch"
    IMAGE = "image"
    CLI = "cli"
    SYSTEM = "system"


class Party(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Seller or buyer as printed on the invoice."""

    tax_id: str = ""
    name: str = ""
    address: str = ""
    phone: str = ""
    bank: str = ""
    account: str = ""


class LineItem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    name: str
    spec: str = ""
    unit: str = ""
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    amount: Decimal
    tax_rate: Decimal
    tax: Decimal


class Invoice(msgspec.Struct, frozen=True, kw_only=True):
    """One invoice as the registry holds it."""

    invoice_key: str
    kind: str
    code: str
    number: str
    issue_date: dt.date
    amount: Decimal
    """Total excluding tax."""
    tax: Decimal
    total: Decimal
    """价税合计: amount + tax."""
    check_code: str = ""
    status: Status = Status.NORMAL
    risk_level: RiskLevel = RiskLevel.NORMAL
    seller: Party = Party()
    buyer: Party = Party()
    items: tuple[LineItem, ...] = ()
    machine_no: str = ""
    remarks: str = ""
    version: int = 0
    """Monotonic row version (ReplacingMergeTree): the highest one is current."""


class InvoiceEvent(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One step of an invoice's flow; ``event_id`` makes recording idempotent.

    ``gc=False``: its fields (strings, a datetime, a flat string map) cannot form a
    cycle, and the recorder queues thousands a second, each of which the cyclic GC
    would otherwise count and traverse until it is written."""

    event_id: str
    invoice_key: str
    event_time: dt.datetime
    kind: EventKind
    actor_tax_id: str = ""
    channel: str = ""
    detail: dict[str, str] = msgspec.field(default_factory=dict)
