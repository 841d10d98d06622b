"""Invoice and event records <-> ClickHouse columns (one place for the mapping)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Final

import msgspec

from verify._model import EventKind, Invoice, InvoiceEvent, LineItem, Party, RiskLevel, Status

PARTY_FIELDS: Final = ("tax_id", "name", "address", "phone", "bank", "account")

INVOICE_COLUMNS: Final = (
    "invoice_key",
    "kind",
    "code",
    "number",
    "issue_date",
    "amount",
    "tax",
    "total",
    "check_code",
    "status",
    "risk_level",
    *(f"seller_{f}" for f in PARTY_FIELDS),
    *(f"buyer_{f}" for f in PARTY_FIELDS),
    "items",
    "machine_no",
    "remarks",
    "source_hash",
    "version",
)
EVENT_COLUMNS: Final = (
    "invoice_key",
    "event_time",
    "event_id",
    "kind",
    "actor_tax_id",
    "channel",
    "detail",
)

_items_encoder = msgspec.json.Encoder(decimal_format="string")
_items_decoder = msgspec.json.Decoder(tuple[LineItem, ...])
_hash_encoder = msgspec.msgpack.Encoder(decimal_format="string")


def encode_items(items: Sequence[LineItem]) -> str:
    return _items_encoder.encode(items).decode() if items else "[]"


def content_hash(invoice: Invoice) -> int:
    """A stable 64-bit fingerprint of a record's content (not its version).

    Re-ingesting a record with the same fingerprint writes nothing.
    """
    if invoice.version:
        invoice = msgspec.structs.replace(invoice, version=0)
    body = _hash_encoder.encode(invoice)
    return int.from_bytes(hashlib.blake2b(body, digest_size=8).digest(), "little")


def invoice_columns(
    invoices: Sequence[Invoice], hashes: Sequence[int] | None = None
) -> list[list[Any]]:
    """Column-oriented data for an insert into ``invoices`` (INVOICE_COLUMNS order)."""
    cols: list[list[Any]] = [[] for _ in INVOICE_COLUMNS]
    (key, kind, code, number, date, amount, tax, total, check, status, risk) = cols[:11]
    seller = cols[11:17]
    buyer = cols[17:23]
    items, machine, remarks, source_hash, version = cols[23:]
    for i, inv in enumerate(invoices):
        key.append(inv.invoice_key)
        kind.append(inv.kind)
        code.append(inv.code)
        number.append(inv.number)
        date.append(inv.issue_date)
        amount.append(inv.amount)
        tax.append(inv.tax)
        total.append(inv.total)
        check.append(inv.check_code)
        status.append(inv.status.value)
        risk.append(inv.risk_level.value)
        for cols_of, party in ((seller, inv.seller), (buyer, inv.buyer)):
            cols_of[0].append(party.tax_id)
            cols_of[1].append(party.name)
            cols_of[2].append(party.address)
            cols_of[3].append(party.phone)
            cols_of[4].append(party.bank)
            cols_of[5].append(party.account)
        items.append(encode_items(inv.items))
        machine.append(inv.machine_no)
        remarks.append(inv.remarks)
        source_hash.append(hashes[i] if hashes is not None else content_hash(inv))
        version.append(inv.version)
    return cols


def invoice_from_row(row: Sequence[Any]) -> Invoice:
    """Inverse of :func:`invoice_columns` for one row in INVOICE_COLUMNS order."""
    items_text = row[23]
    return Invoice(
        invoice_key=row[0],
        kind=row[1],
        code=row[2],
        number=row[3],
        issue_date=row[4],
        amount=Decimal(row[5]),
        tax=Decimal(row[6]),
        total=Decimal(row[7]),
        check_code=row[8],
        status=Status(row[9]),
        risk_level=RiskLevel(row[10]),
        seller=Party(**dict(zip(PARTY_FIELDS, row[11:17], strict=True))),
        buyer=Party(**dict(zip(PARTY_FIELDS, row[17:23], strict=True))),
        items=_items_decoder.decode(items_text) if items_text not in ("", "[]") else (),
        machine_no=row[24],
        remarks=row[25],
        version=int(row[27]),
    )


def event_columns(events: Sequence[InvoiceEvent]) -> list[list[Any]]:
    cols: list[list[Any]] = [[] for _ in EVENT_COLUMNS]
    key, time, event_id, kind, actor, channel, detail = cols
    for ev in events:
        key.append(ev.invoice_key)
        time.append(_utc(ev.event_time))
        event_id.append(ev.event_id)
        kind.append(ev.kind.value)
        actor.append(ev.actor_tax_id)
        channel.append(ev.channel)
        detail.append(ev.detail)
    return cols


def event_from_row(row: Sequence[Any]) -> InvoiceEvent:
    return InvoiceEvent(
        invoice_key=row[0],
        event_time=_utc(row[1]),
        event_id=row[2],
        kind=EventKind(row[3]),
        actor_tax_id=row[4],
        channel=row[5],
        detail=dict(row[6]),
    )


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)
