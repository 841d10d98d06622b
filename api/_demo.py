"""``fapiao serve --demo``: on first start, a demo data set (H3's generator) loaded into
the store, a few ready-to-paste QR payloads (kept in ``<data dir>/demo.json``) and the
same invoices as files to upload (``<data dir>/demo-files/``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import msgspec

from api._demo_files import DEMO_FILES_DIR, write_demo_files
from verify import Invoice, InvoiceEvent, InvoiceStore

log = logging.getLogger("fapiao.demo")

DEMO_INVOICES = 2_000
DEMO_SEED = 7
_WANTED = ("normal", "voided", "red_reversed", "partly_red_reversed", "abnormal")


def load_generated(
    store: InvoiceStore, n: int, seed: int = DEMO_SEED
) -> tuple[list[str], dict[str, tuple[dict[str, Any], str]]]:
    """Generate ``n`` invoices with their flow (H3's generator) straight into the store.

    Returns the QR line of every invoice a verification can succeed with today (not a
    red-letter one, issued within the verification window) and one sample per status:
    its generated record and QR line.
    """
    from ingest._generate import iter_invoices_and_events, qr_line
    from ingest._records import parse_event, parse_invoice
    from verify import FapiaoError, check_issue_date, get_settings
    from verify import today as today_in

    settings = get_settings()
    limits, today = settings.limits, today_in(settings)
    invoices: list[Invoice] = []
    events: list[InvoiceEvent] = []
    lines: list[str] = []
    samples: dict[str, tuple[dict[str, Any], str]] = {}
    for record, evs in iter_invoices_and_events(n, seed):
        invoice = parse_invoice(record)
        invoices.append(invoice)
        events.extend(parse_event(e) for e in evs)
        if str(record["total"]).startswith("-"):
            continue  # a red-letter invoice: verifiable, but not what a demo shows first
        try:  # e.g. registry history older than the window answers 005, not a verification
            check_issue_date(
                invoice.issue_date,
                today=today,
                same_day=limits.same_day,
                window_years=limits.window_years,
            )
        except FapiaoError:
            continue
        line = qr_line(record)
        lines.append(line)
        status = record.get("status", "normal")
        if status in _WANTED and status not in samples:
            samples[status] = (record, line)
        if len(invoices) >= 5_000:
            store.insert_invoices(invoices)
            invoices = []
    store.insert_invoices(invoices)
    for i in range(0, len(events), 20_000):
        store.insert_events(events[i : i + 20_000])
    return lines, samples


def ensure_demo(store: InvoiceStore, data_dir: Path, n: int = DEMO_INVOICES) -> dict[str, Any]:
    """Load the demo set unless ``demo.json`` says it is there; returns the samples."""
    marker = data_dir / "demo.json"
    if marker.exists():
        samples: dict[str, Any] = msgspec.json.decode(marker.read_bytes())
        return samples
    _, records = load_generated(store, n)
    data_dir.mkdir(parents=True, exist_ok=True)
    write_demo_files(records, data_dir / DEMO_FILES_DIR)
    samples = {status: line for status, (_, line) in records.items()}
    marker.write_bytes(msgspec.json.encode(samples))
    log.info("demo data loaded", extra={"invoices": n})
    return samples


def describe(samples: dict[str, Any], base_url: str, data_dir: Path) -> str:
    lines = [f"fapiao-cloud demo: open {base_url}/ on a phone or browser", "QR payloads to paste:"]
    for status, line in samples.items():
        lines.append(f"  {status:<20} {line}")
    if samples:
        first = next(iter(samples.values()))
        lines.append("try:")
        lines.append(f"  curl -s {base_url}/api/v1/verify -H 'content-type: application/json' \\")
        lines.append(f'       -d \'{{"qr": "{first}"}}\'')
        lines.append(f"  fapiao verify --qr '{first}'")
    files = sorted((data_dir / DEMO_FILES_DIR).glob("*.*"))
    if files:
        lines.append("files to upload on the page (or with curl -F file=@...):")
        lines.extend(f"  {path}" for path in files)
        lines.append(f"  curl -s {base_url}/api/v1/verify/image -F file=@{files[0]}")
    return "\n".join(lines)
