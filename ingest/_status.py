"""An invoice's status from its record and its status-changing events.

A pure fold, in event time order, over the status the source record gave: the
same record and the same events always give the same status, so re-running an
ingest recomputes it and writes nothing new. The rules are docs/import-format.md's
status effects (under "Event record").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from verify import EventKind, InvoiceEvent, Status

PAPER_KINDS: Final = frozenset({"01", "02", "03", "04", "11", "15"})
"""Kinds that can be voided (作废); electronic invoices are reversed in red instead."""
DIGITAL_PAPER_KINDS: Final = frozenset({"31", "32"})
"""数电 kinds also printed on paper: such an invoice carries a code (DOMAIN.md §1) and,
being paper, can be voided."""
_FINAL: Final = frozenset({Status.VOIDED, Status.RED_REVERSED})


def fold_status(
    base: Status, kind: str, events: Iterable[InvoiceEvent], *, code: str = ""
) -> Status:
    """The status after ``events`` (any order; sorted here by time, then id).

    ``code`` matters only for a 数电 kind: with one, the invoice is on paper."""
    paper = kind in PAPER_KINDS or (bool(code) and kind in DIGITAL_PAPER_KINDS)
    status = base
    before_flag = base
    for ev in sorted(events, key=lambda e: (e.event_time, e.event_id)):
        if ev.kind is EventKind.RED_ISSUED:
            if ev.detail.get("scope") == "full":
                status = Status.RED_REVERSED
            elif status not in _FINAL:
                status = Status.PARTLY_RED_REVERSED
        elif ev.kind is EventKind.VOIDED:
            if paper and status is not Status.RED_REVERSED:
                status = Status.VOIDED
        elif ev.kind is EventKind.FLAGGED_ABNORMAL:
            if status not in _FINAL and status is not Status.ABNORMAL:
                before_flag = status
                status = Status.ABNORMAL
        elif ev.kind is EventKind.ABNORMAL_CLEARED and status is Status.ABNORMAL:
            status = before_flag if before_flag is not Status.ABNORMAL else Status.NORMAL
    return status
