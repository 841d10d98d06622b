"""The invoice store's interface: what the pipeline and ingest need from ClickHouse.

One implementation serves both engines (embedded chDB and a ClickHouse server)
since clickhouse-connect speaks to both; the DSN chooses. Methods are synchronous
(clickhouse-connect and chDB are); async callers run them in a thread. Driver
errors are wrapped into :class:`verify.StoreError` here, at the adapter.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

from verify._model import Invoice, InvoiceEvent


class InvoiceStore(abc.ABC):
    """Registry of invoices and their flow."""

    @abc.abstractmethod
    def migrate(self) -> None:
        """Create or upgrade the schema; idempotent, run at start."""

    @abc.abstractmethod
    def get_invoice(self, invoice_key: str) -> Invoice | None:
        """The current version of one invoice, or None."""

    @abc.abstractmethod
    def get_invoices(self, invoice_keys: Sequence[str]) -> dict[str, Invoice]:
        """Current versions of many invoices (absent keys are left out)."""

    @abc.abstractmethod
    def get_events(self, invoice_key: str) -> list[InvoiceEvent]:
        """The invoice's flow in time order, verifications included."""

    def get_invoice_with_events(
        self, invoice_key: str
    ) -> tuple[Invoice | None, list[InvoiceEvent]]:
        """The invoice and its flow (no events when there is no invoice)."""
        invoice = self.get_invoice(invoice_key)
        return invoice, (self.get_events(invoice_key) if invoice is not None else [])

    @abc.abstractmethod
    def changes_since(self, watermark: int | None) -> tuple[list[str], int]:
        """Invoice keys written after ``watermark`` (from the change log every write
        appends to) and the watermark to pass next; ``None`` starts from now."""

    @abc.abstractmethod
    def verification_counts(self, invoice_keys: Sequence[str]) -> dict[str, int]:
        """How many verifications each invoice has recorded (all time)."""

    @abc.abstractmethod
    def insert_invoices(self, invoices: Sequence[Invoice]) -> None:
        """Write invoice rows (a higher ``version`` supersedes a lower one)."""

    @abc.abstractmethod
    def insert_events(self, events: Sequence[InvoiceEvent]) -> None:
        """Append flow events; an ``event_id`` already present is ignored."""

    @abc.abstractmethod
    def ping(self) -> bool:
        """True when the store answers."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the client."""
