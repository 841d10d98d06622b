"""Apply validated batches to the store, idempotently (the same code in CLI and service).

- Invoices: a record whose content fingerprint equals the current version's is
  skipped (looked up when a probe of the batch finds any of its invoices recorded);
  a new or changed one is written whole, its status folded over any status events
  already recorded (events may arrive first).
- Events: ids already recorded for the invoice are skipped (a probe of a sample of
  the batch's invoices decides whether the full check is needed); the status of every
  invoice named by a status-changing event in the batch is recomputed from all of
  its events, and a new version is written only when it differs. So a rerun after
  a kill completes whatever the killed run left undone, and changes nothing else.
Every key whose answer may change goes to the change log (cache coherence).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import msgspec

from ingest._status import DIGITAL_PAPER_KINDS, fold_status
from verify import STATUS_CHANGING_EVENTS, EventKind, Invoice, InvoiceEvent, Status
from verify._store._clickhouse import ClickHouseStore
from verify._store._rows import PreparedInvoice, decode_doc, prepare


class BatchResult(msgspec.Struct, kw_only=True):
    invoices_written: int = 0
    invoices_unchanged: int = 0
    events_written: int = 0
    events_known: int = 0
    status_changes: int = 0
    changed_keys: list[str] = msgspec.field(default_factory=list)

    @property
    def wrote(self) -> bool:
        """Whether anything reached the store (invoices, events or statuses)."""
        return bool(self.invoices_written or self.events_written or self.status_changes)

    def add(self, other: BatchResult) -> None:
        self.invoices_written += other.invoices_written
        self.invoices_unchanged += other.invoices_unchanged
        self.events_written += other.events_written
        self.events_known += other.events_known
        self.status_changes += other.status_changes


class Loader:
    """Writes batches into a :class:`ClickHouseStore`."""

    def __init__(self, store: ClickHouseStore) -> None:
        self.store = store

    def load_invoices(self, invoices: Sequence[Invoice | PreparedInvoice]) -> BatchResult:
        """Invoices, or rows ingest workers already prepared (the fast way)."""
        result = BatchResult()
        if not invoices:
            return result
        rows = [r if isinstance(r, PreparedInvoice) else prepare(r) for r in invoices]
        keys = list(dict.fromkeys(r.invoice_key for r in rows))
        # As for events: a probe decides whether the full lookup (whose cost grows with
        # the table) is needed. Were an existing invoice missed, it would get an equal
        # new version (its status still folded over its recorded events below).
        states = self.store.invoice_states(_sample(keys))
        if states:
            states = self.store.invoice_states(keys)
        fresh: list[PreparedInvoice] = []
        if states:
            # the lookup copy's newest version of each (a kill may have left the two
            # apart: migration 7 writes the copy first; before it, a view wrote it
            # after or before): a row whose versions differ is written again
            copied = self.store.lookup_versions(list(states))
            for row in rows:
                state = states.get(row.invoice_key)
                if (
                    state is not None
                    and state.source_hash == row.source_hash
                    and copied.get(row.invoice_key) == state.version
                ):
                    result.invoices_unchanged += 1
                    continue
                fresh.append(row)
            # the same record written by the other path, unless the copy lags
            same = self._same_records(
                [
                    r
                    for r in fresh
                    if r.invoice_key in states
                    and copied.get(r.invoice_key) == states[r.invoice_key].version
                ]
            )
            if same:
                fresh = [r for r in fresh if r.invoice_key not in same]
                result.invoices_unchanged += len(same)
        else:
            fresh = rows
        if not fresh:
            return result
        earlier = self.store.status_events([inv.invoice_key for inv in fresh])
        now = time.time_ns() // 1000
        statuses: list[Status] = []
        versions: list[int] = []
        for inv in fresh:
            state = states.get(inv.invoice_key)
            versions.append(max(now, state.version + 1) if state is not None else now)
            events = earlier.get(inv.invoice_key)
            statuses.append(
                fold_status(inv.status, inv.kind, events, code=_paper_code(inv))
                if events
                else inv.status
            )
        self.store.insert_prepared(fresh, statuses=statuses, versions=versions)
        result.changed_keys = [inv.invoice_key for inv in fresh]
        self.store.record_changes(result.changed_keys)
        result.invoices_written = len(fresh)
        return result

    def _same_records(self, rows: Sequence[PreparedInvoice]) -> set[str]:
        """Keys of ``rows`` whose current version holds the same record written by the
        other ingest path: the native path stores the JSON line and its cityHash64,
        this one msgpack and its blake2b, so fingerprints differ for equal records
        and only the decoded records can be compared (a reload by the other path)."""
        if not rows:
            return set()
        docs = self.store.current_docs([r.invoice_key for r in rows])
        same: set[str] = set()
        for r in rows:
            doc = docs.get(r.invoice_key)
            if doc is None or (doc[:1] == b"{") == (r.doc[:1] == b"{"):
                continue  # written the same way: the fingerprints told already
            if decode_doc(doc) == r.invoice():
                same.add(r.invoice_key)
        return same

    def load_events(self, events: Sequence[InvoiceEvent]) -> BatchResult:
        return self.fold_events(*self.write_events(events))

    def write_events(
        self, events: Sequence[InvoiceEvent]
    ) -> tuple[BatchResult, list[str], list[str]]:
        """The first half of :meth:`load_events`: the new events written, the statuses
        not yet folded. Returns the counts, the keys to refold and the keys of the new
        events; :meth:`fold_events` does the rest (the native path refolds the keys of
        several chunks at once instead, ingest/_native.py)."""
        result = BatchResult()
        if not events:
            return result, [], []
        keys = list(dict.fromkeys(ev.invoice_key for ev in events))
        # Probe a sample of the batch's invoices first: a first load finds none of its
        # events recorded and skips the full check, whose cost grows with the table.
        # A repeat the probe misses is still shown once (dedup on read), only counted
        # as written.
        probe = set(self.store.existing_event_ids(_sample(keys)))
        batch_ids = {ev.event_id for ev in events}
        known = self.store.existing_event_ids(keys) if probe & batch_ids else probe
        new = [ev for ev in events if ev.event_id not in known]
        result.events_known = len(events) - len(new)
        result.events_written = len(new)
        self.store.insert_events(new)
        # Recompute for every status event in the batch, new or not: a run killed
        # between the events and the status version is completed by the rerun.
        status_keys = list(
            dict.fromkeys(ev.invoice_key for ev in events if ev.kind in STATUS_CHANGING_EVENTS)
        )
        return result, status_keys, list(dict.fromkeys(ev.invoice_key for ev in new))

    def fold_events(
        self, result: BatchResult, status_keys: Sequence[str], new_keys: Sequence[str]
    ) -> BatchResult:
        """The second half of :meth:`load_events`: the statuses refolded, the flow's
        keys to the change log."""
        if not status_keys and not new_keys:
            return result
        changes = self.refold(status_keys)
        result.status_changes = len(changes)
        flow_keys = [k for k in new_keys if k not in changes]
        self.store.record_changes(flow_keys)
        result.changed_keys = [*changes, *flow_keys]
        return result

    def refold(self, status_keys: Sequence[str]) -> dict[str, Status]:
        """Recompute the status of these invoices from all their recorded status events
        and write a version for each whose status changes (returned). Keys with no
        recorded invoice are left alone (the invoice's load folds them later)."""
        changes: dict[str, Status] = {}
        if not status_keys:
            return changes
        states = self.store.invoice_states(status_keys)
        recorded = self.store.status_events(list(states))
        # Whether the lookup copy lags a version that a view was to copy (written
        # before migration 7, maybe cut off by a kill). A version written since went to
        # the copy first: where a kill left the copy ahead with a new status, the
        # status read here is the old one and the fold writes the version again. So
        # the copy's versions (a granule of each of its parts a key: 2.4 of 18.9
        # CPU-s of the events of 10^6, 2026-11-24) are read for the older ones alone.
        copied = self.store.lookup_versions([k for k, s in states.items() if s.doc_in_row])
        # A 数电 invoice's code matters only to a void (on paper: voidable); the
        # whole record is read only for those (a few of the batch's invoices).
        voidable = [
            k
            for k, s in states.items()
            if s.kind in DIGITAL_PAPER_KINDS
            and any(ev.kind is EventKind.VOIDED for ev in recorded.get(k, ()))
        ]
        codes = {key: inv.code for key, inv in self.store.get_invoices(voidable).items()}
        for key, state in states.items():
            status = fold_status(
                state.record_status, state.kind, recorded.get(key, ()), code=codes.get(key, "")
            )
            lags = state.doc_in_row and copied.get(key) != state.version
            if status is not state.status or lags:
                changes[key] = status  # or the lookup copy lags: written again
        self.store.set_statuses(changes)
        return changes


def _paper_code(row: PreparedInvoice) -> str:
    """The code of a 数电 invoice printed on paper ("" for others): decoded from the
    document only for the kinds where it matters."""
    return row.invoice().code if row.kind in DIGITAL_PAPER_KINDS else ""


PROBE = 256


def _sample(keys: list[str]) -> list[str]:
    """Up to PROBE keys spread evenly over the batch."""
    if len(keys) <= PROBE:
        return keys
    step = len(keys) / PROBE
    return [keys[int(i * step)] for i in range(PROBE)]
