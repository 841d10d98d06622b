"""Bringing the lookup copy (``invoice_lookup``, migration 4) back to few parts.

A point lookup reads one granule of every active part of the copy (about 0.35 ms a
part at 10^7 invoices: 8.8 ms p50 with the 16 parts a 10^7 load leaves, 3.5 ms with
one), and background merges only run while a process holds the engine open: the
ingest process exits right after its load, so nothing merged the copy afterwards.

:func:`settle_lookup` runs plain (not ``FINAL``) ``OPTIMIZE`` statements until the
copy has at most ``max_parts`` parts. Without ``FINAL``, ClickHouse's merge selector
picks the cheapest range worth merging (small parts before large ones), so a small
ingest into a large store merges its own few small parts, not the whole table; a
large load's similar-sized parts are merged together in one pass (145 s for the
3.2 GB copy of 10^7 invoices, about 22 MB/s on this machine). A merge is atomic: a
kill leaves the old parts, and reads never see a stale version (they pick the
newest version of each key, merged or not).
"""

from __future__ import annotations

import time
from typing import Any, Final

import msgspec

LOOKUP_TABLE: Final = "invoice_lookup"
SETTLE_MAX_PARTS: Final = 2
"""What a settle leaves at most: two parts cost a lookup ~0.35 ms more than one, and
merging a small second part into a large first would rewrite the whole copy."""


class Settled(msgspec.Struct, frozen=True, kw_only=True):
    """What a settle did: the copy's active parts before and after, and how long."""

    parts_before: int
    parts_after: int
    merges: int
    seconds: float

    def line(self) -> str:
        if self.parts_before == self.parts_after:
            return f"lookup copy: {self.parts_after} parts, nothing to merge"
        return (
            f"lookup copy: {self.parts_before} parts -> {self.parts_after} "
            f"in {self.seconds:.1f}s ({self.merges} merges)"
        )


def _count(client: Any, database: str, system_table: str, extra: str = "") -> int:
    return int(
        client.command(
            f"SELECT count() FROM system.{system_table} WHERE database = {{db:String}} "
            f"AND table = {{t:String}}{extra}",
            parameters={"db": database, "t": LOOKUP_TABLE},
        )
    )


def active_parts(client: Any, database: str) -> int:
    """Active parts of the lookup copy."""
    return _count(client, database, "parts", " AND active")


def settle_lookup(
    client: Any,
    database: str,
    *,
    max_parts: int = SETTLE_MAX_PARTS,
    max_merges: int = 8,
    wait_s: float = 600.0,
) -> Settled:
    """Merge the lookup copy down to ``max_parts`` active parts (see the module doc).

    Waits (up to ``wait_s`` in all) for background merges of the copy already
    running, since ``OPTIMIZE`` cannot select parts they hold; stops after
    ``max_merges`` statements or when one merges nothing."""
    started = time.monotonic()
    before = parts = active_parts(client, database)
    merges = 0
    while parts > max_parts and merges < max_merges:
        if _count(client, database, "merges") and time.monotonic() - started < wait_s:
            time.sleep(0.2)
            parts = active_parts(client, database)
            continue
        client.command(
            f"OPTIMIZE TABLE {database}.{LOOKUP_TABLE}", settings={"optimize_throw_if_noop": 0}
        )
        merges += 1
        now = active_parts(client, database)
        if now >= parts and not _count(client, database, "merges"):
            parts = now
            break  # the selector found nothing worth merging
        parts = now
    return Settled(
        parts_before=before,
        parts_after=parts,
        merges=merges,
        seconds=round(time.monotonic() - started, 3),
    )
