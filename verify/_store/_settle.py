"""Bringing the lookup copy (``invoice_lookup``, migration 4) back to few parts.

A point lookup reads one granule of every active part of the copy (about 0.35 ms a
part at 10^7 invoices: 8.8 ms p50 with the 16 parts a 10^7 load leaves, 3.5 ms with
one), and background merges only run while a process holds the engine open: the
ingest process exits right after its load, so nothing merged the copy afterwards.

:func:`settle_lookup` runs plain (not ``FINAL``) ``OPTIMIZE`` statements until each
partition of the copy has at most ``max_parts`` parts. Since migration 8 the copy has
two partitions (by a hash of the key) and the settle merges them at once: as many
plain ``OPTIMIZE`` statements at once as partitions over the limit, each on a
connection of its own (and the background merges, on while the settle runs, take
both partitions at once too). A merge runs on one thread, so the one merge of an
unpartitioned copy left the other core idle (a 10^6 copy: 3.6-3.8 vs 6.5-7.8 s wall,
the same CPU). Without ``FINAL``, ClickHouse's merge selector picks the cheapest
range worth merging (small parts before large ones), so a small ingest into a large
store merges its own few small parts, not the whole table; a large load's
similar-sized parts are merged together in one pass (145 s for the 3.2 GB copy of
10^7 invoices before migration 8, about 22 MB/s on this machine). Not ``OPTIMIZE …
PARTITION``: it merges every part of the partition, whatever the selector says. A
merge is atomic: a kill leaves the old parts, and reads never see a stale version
(they pick the newest version of each key, merged or not; a key's rows all lie in
one partition).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Final

import msgspec

LOOKUP_TABLE: Final = "invoice_lookup"
SETTLE_MAX_PARTS: Final = 2
"""What a settle leaves at most in each partition (a lookup reads one partition,
migration 8): two parts cost a lookup ~0.35 ms more than one, and merging a small
second part into a large first would rewrite the whole copy."""


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


def partition_parts(client: Any, database: str) -> dict[str, int]:
    """Active parts of the lookup copy in each of its partitions (partition id: count)."""
    rows = client.query(
        "SELECT partition_id, count() FROM system.parts WHERE database = {db:String} "
        "AND table = {t:String} AND active GROUP BY partition_id",
        parameters={"db": database, "t": LOOKUP_TABLE},
    ).result_rows
    return {str(p): int(n) for p, n in rows}


def most_parts(client: Any, database: str) -> int:
    """Active parts of the lookup copy's fullest partition: what a lookup reads a
    granule of each of, and what ClickHouse's ``parts_to_delay_insert`` counts."""
    return max(partition_parts(client, database).values(), default=0)


def _optimize(clients: list[Any], database: str) -> None:
    """A plain ``OPTIMIZE`` on each client at once. Not ``OPTIMIZE … PARTITION``: that
    merges every part of the partition (the selector is skipped), so a small load would
    rewrite half the copy. ClickHouse picks each statement's range under a lock, leaving
    out parts a merge holds: the second statement takes the best range left, in the
    other partition when one merge took a partition's whole range."""
    errors: list[BaseException] = []

    def run(client: Any) -> None:
        try:
            client.command(
                f"OPTIMIZE TABLE {database}.{LOOKUP_TABLE}",
                settings={"optimize_throw_if_noop": 0},
            )
        except BaseException as exc:  # raised below, in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,), name="settle") for c in clients[1:]]
    for t in threads:
        t.start()
    run(clients[0])
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def settle_lookup(
    client: Any,
    database: str,
    *,
    max_parts: int = SETTLE_MAX_PARTS,
    max_merges: int = 8,
    wait_s: float = 600.0,
    connect: Callable[[], Any] | None = None,
) -> Settled:
    """Merge each partition of the lookup copy down to ``max_parts`` active parts
    (see the module doc), the partitions at once: ``connect`` opens a client for
    each statement beyond the first (closed here); without it one at a time.

    Waits (up to ``wait_s`` in all) for background merges of the copy already
    running, since ``OPTIMIZE`` cannot select parts they hold (with merges on, the
    background takes both partitions at once by itself); stops after ``max_merges``
    rounds of statements or when a round merges nothing."""
    started = time.monotonic()
    parts = partition_parts(client, database)
    before = sum(parts.values())
    merges = rounds = 0
    extra: list[Any] = []
    try:
        while rounds < max_merges:
            over = sum(1 for n in parts.values() if n > max_parts)
            if not over:
                break
            if _count(client, database, "merges") and time.monotonic() - started < wait_s:
                time.sleep(0.2)
                parts = partition_parts(client, database)
                continue
            while connect is not None and len(extra) < over - 1:
                extra.append(connect())
            clients = [client, *extra][:over]
            _optimize(clients, database)
            merges += len(clients)
            rounds += 1
            now = partition_parts(client, database)
            if sum(now.values()) >= sum(parts.values()) and not _count(client, database, "merges"):
                parts = now
                break  # the selector found nothing worth merging
            parts = now
    finally:
        for c in extra:
            c.close()
    return Settled(
        parts_before=before,
        parts_after=sum(parts.values()),
        merges=merges,
        seconds=round(time.monotonic() - started, 3),
    )
