"""Decoding a point lookup of ``invoice_lookup`` (migration 4): RowBinary rows of
``(r, status, version, payload)``, r = 0 an invoice version (payload: its ``doc``),
r = 1 an event (payload: a JSON array of its fields, _schema.LOOKUP_FROM_EVENTS_SQL).

A few rows a lookup: a plain loop over the bytes costs less than a driver's
column decoding. The newest invoice version wins (never a stale one); events come
in time order, an ``event_id`` not merged away yet shown once.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

import msgspec

from verify._model import EventKind, Invoice, InvoiceEvent, Status
from verify._store._rows import decode_doc

_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS: Final = dt.timedelta(milliseconds=1)
_EventFields = tuple[int, str, str, str, str, dict[str, str]]
_event_decoder: Final = msgspec.json.Decoder(_EventFields)


def _string(data: bytes, pos: int) -> tuple[bytes, int]:
    """A RowBinary String at ``pos``: LEB128 length, then the bytes."""
    size, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        size |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
    return data[pos : pos + size], pos + size


def parse_lookup(invoice_key: str, data: bytes) -> tuple[Invoice | None, list[InvoiceEvent]]:
    """The invoice (its newest version) and its flow; ``(None, [])`` without an invoice."""
    best: tuple[int, bytes, bytes] | None = None
    events: list[_EventFields] = []
    pos, end = 0, len(data)
    while pos < end:
        r = data[pos]
        status, pos = _string(data, pos + 1)
        version = int.from_bytes(data[pos : pos + 8], "little")
        payload, pos = _string(data, pos + 8)
        if r:
            events.append(_event_decoder.decode(payload))
        elif best is None or version > best[0]:
            best = (version, status, payload)
    if best is None:
        return None, []
    version, status, doc = best
    invoice = msgspec.structs.replace(
        decode_doc(doc), status=Status(status.decode()), version=version
    )
    events.sort(key=lambda e: (e[0], e[1]))
    seen: set[str] = set()
    flow = []
    for ms, event_id, kind, actor, channel, detail in events:
        if event_id in seen:
            continue
        seen.add(event_id)
        flow.append(
            InvoiceEvent(
                invoice_key=invoice_key,
                event_time=_EPOCH + ms * _MS,
                event_id=event_id,
                kind=EventKind(kind),
                actor_tax_id=actor,
                channel=channel,
                detail=detail,
            )
        )
    return invoice, flow
