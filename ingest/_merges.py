"""The lookup copy's background merges deferred while a native load runs.

``fapiao ingest`` ends by merging the lookup copy (``invoice_lookup``) down to a
few parts (``ClickHouseStore.settle_lookup``): a 10^6 load's copy ends as one part
whatever the background merged before, so every background merge of the copy
during the load is written again by the settle. Measured at 10^6 invoices
(docs/adr/0001, 2026-11-23): without them the load and its settle cost ~7 % less
CPU, the copy is merged once (32 parts -> 1), and the 256-key probes and the
refold's version reads, which read a granule of every part, cost less than the
merges saved.

Those reads grew with the number of parts, so the deferral had a cap of 40 parts.
Since migration 7 (2026-11-24) a first load reads nothing of the copy (the probes
read ``invoices`` and ``invoice_events``; the refold reads the copy only for versions
written before migration 7), and a rerun adds no parts to it. So the cap now only
bounds the parts a load piles up: past ``MAX_PARTS`` active parts in a partition of
the copy (migration 8 made two), merges run again for the rest of the run (the load
then goes on as without the deferral). Only in the embedded engine: ``SYSTEM STOP
MERGES`` lives in this process (a kill ends it), where on a server it would outlive a
killed ingest. Merges always run again when the run ends (``resume`` in a
``finally``), before the settle.
"""

from __future__ import annotations

from typing import Any, Final

from verify._store._settle import LOOKUP_TABLE, most_parts

MAX_PARTS: Final = 400
"""Parts of the copy's fullest partition beyond which merges run again: a 10^6 load
leaves 32 in each of its two partitions (20 invoice chunks and 12 event chunks of 48 MB,
each written as a part a partition since migration 8), 3*10^6 ~94, 10^7 ~310. Far
below the 1 000 active parts in a partition at which ClickHouse delays inserts
(``parts_to_delay_insert``). 3*10^6 load + settle, alternated (2026-11-24
12:34-12:41, load 2.0-2.9): 131.5 / 139.7 CPU-s with no cap against 156.9 / 160.5
with 40 (the settle 27.5 / 27.9 vs 37.7 / 39.4, 94 -> 2 parts vs 44 -> 1; before
migration 8, the cap counting the whole copy)."""


class LookupMergeDeferral:
    """``pause()`` before a native file, ``check()`` after each of its chunks,
    ``resume()`` before anything else and at the end of the run."""

    def __init__(self, store: Any, max_parts: int | None = None) -> None:
        url = getattr(store, "url", "")
        self.enabled = isinstance(url, str) and url.startswith("chdb:")
        self.store = store
        self.max_parts = MAX_PARTS if max_parts is None else max_parts
        self.paused = False
        self.capped = False
        """The cap was reached: merges run for the rest of the run."""

    def _merges(self, on: bool) -> None:
        table = f"{self.store.database}.{LOOKUP_TABLE}"
        self.store.client.command(f"SYSTEM {'START' if on else 'STOP'} MERGES {table}")

    def pause(self) -> None:
        if self.enabled and not self.paused and not self.capped:
            self._merges(on=False)
            self.paused = True

    def check(self) -> None:
        """After a chunk: past the cap, merges run again for the rest of the run."""
        if self.paused and most_parts(self.store.client, self.store.database) > self.max_parts:
            self.capped = True
            self.resume()

    def resume(self) -> None:
        if self.paused:
            self.paused = False
            self._merges(on=True)
