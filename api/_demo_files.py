"""Files to try the upload with: the demo's sample invoices as a printed-invoice PNG
each and one e-invoice PDF of them all, rendered by the test-data generator
(``ocr.synth``) from the very records the demo loaded, so an upload verifies."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

log = logging.getLogger("fapiao.demo")

DEMO_FILES_DIR = "demo-files"
_PRINTED_ROWS = 6
"""Item rows the printed layout has room for (the QR carries the verification)."""


def _record_of(invoice: dict[str, Any], qr_line: str) -> Any:
    from ocr.synth._record import Item, Record

    fields = qr_line.split(",")
    qr_kind, tail = fields[1], fields[7]
    items = tuple(
        Item(
            name=i["name"],
            spec=i["spec"],
            unit=i["unit"],
            quantity=Decimal(i["quantity"]),
            unit_price=Decimal(i["unit_price"]),
            amount=Decimal(i["amount"]),
            tax_rate=Decimal(i["tax_rate"]),
            tax=Decimal(i["tax"]),
        )
        for i in invoice["items"][:_PRINTED_ROWS]
    )
    return Record(
        qr_kind=qr_kind,
        code=invoice["code"],
        number=invoice["number"],
        issue_date=dt.date.fromisoformat(invoice["issue_date"]),
        amount=Decimal(invoice["amount"]),
        tax=Decimal(invoice["tax"]),
        check_code=invoice["check_code"],
        seller_name=invoice["seller"]["name"],
        seller_tax_id=invoice["seller"]["tax_id"],
        buyer_name=invoice["buyer"]["name"],
        buyer_tax_id=invoice["buyer"]["tax_id"],
        items=items,
        tail=tail,
    )


def write_demo_files(records: dict[str, tuple[dict[str, Any], str]], directory: Path) -> list[Path]:
    """``records``: status -> (generated invoice record, its QR line). Writes
    ``<status>.png`` per invoice and ``invoices.pdf`` (a page each); returns the paths
    written. Without the CJK font (or reportlab for the PDF) it writes what it can and
    logs why, since the demo works without them."""
    from ocr.synth._render import font_path, render_invoice

    if font_path() is None:
        log.warning("demo files skipped: no CJK font (apt-get install fonts-noto-cjk)")
        return []
    directory.mkdir(parents=True, exist_ok=True)
    printed = {status: _record_of(inv, line) for status, (inv, line) in records.items()}
    written = []
    for status, record in printed.items():
        path = directory / f"{status}.png"
        render_invoice(record, px_per_mm=8.0).save(path, optimize=True)
        written.append(path)
    from ocr.synth._files import build_pdf

    try:
        pdf = build_pdf(list(printed.values()))
    except ImportError:  # reportlab ships with the dev extra only
        log.warning("demo PDF skipped: reportlab is not installed")
        return written
    path = directory / "invoices.pdf"
    path.write_bytes(pdf)
    written.append(path)
    return written
