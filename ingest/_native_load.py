"""The native path's writes (ingest/_native.py), with the Loader's semantics.

- Invoices: a probe of 256 keys decides whether the chunk's invoices may exist
  already; if none does (a first load) every accepted row is written at once, else
  a join with the current versions skips unchanged fingerprints and puts versions
  above the existing ones. Invoices whose key has recorded status events are taken
  out (``fold``): the Loader folds their status, with SQL's doc and fingerprint.
- Events: a probe decides whether known event ids must be looked up (as the Loader
  does: ``check_events``, reads only), then the rows are written (``write_events``:
  for a chunk of events only, on another connection beside the next chunk's checks,
  ingest/_native.py); the invoices named by status-changing events are folded again
  by the Loader (``refold``) once the chunk's events are recorded (for a chunk of
  events only, beside the next chunk's load).
- An invoice version is written as the store writes one (migration 7): its row of
  the lookup copy (``invoice_lookup``, which lookups read) with the doc first, then
  its row of ``invoices`` without it. Existing versions are read from ``invoices``,
  and the copy's newest version beside them: a kill between the two writes (or, in a
  data dir written before migration 7, between a version and its copy by the view)
  leaves them apart, and the version is written again.
- Known event ids are those both ``invoice_events`` and the copy hold (a view writes
  the copy, with no order between the two: what a kill left out of either is written
  again to both).
Every written key goes to the change log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from ingest._loader import BatchResult
from verify import Status
from verify._store._clickhouse import current_rows_sql
from verify._store._rows import PreparedInvoice, decode_doc

if TYPE_CHECKING:
    from ingest._native import NativeRun

_INVOICE_ORDER: Final = "ORDER BY key"
"""Rows handed to the write in the order of ``invoices`` (and of their rows in the
lookup copy: key, then r, version, time and id, all equal within a write): a part
writer that gets a block already in its table's order does not sort it, so one sort
here replaces one for each table and the gather of the ~1 KB ``doc`` behind each
(one 48 MB chunk: 0.218-0.221 vs 0.235-0.243 CPU-s, 2026-11-24)."""
_EVENT_ORDER: Final = "ORDER BY invoice_key, event_time, ident"
"""As ``_INVOICE_ORDER``, for ``invoice_events`` and the copy's (and the status
events') order (one chunk of 238 247 events: 0.270-0.282 vs 0.287-0.364 CPU-s)."""


def fold(run: NativeRun) -> list[PreparedInvoice]:
    """SQL's invoices whose key has recorded status events, taken out of the SQL
    load: the Loader folds their status (with SQL's doc and fingerprint)."""
    t = run.t
    rows = run.rows(
        "SELECT n, key, kind, issue_date, seller_tax_id, buyer_tax_id, total, "
        f"record_status, risk_level, h, doc FROM {t['pi']} "
        f"WHERE n NOT IN (SELECT n FROM {t['xi']}) "
        "AND key IN (SELECT invoice_key FROM invoice_status_events)"
    )
    if rows:
        run.client.insert(t["xi"], [[row[0]] for row in rows], ["n"])
    return [
        PreparedInvoice(
            invoice_key=row[1],
            kind=row[2],
            issue_date=row[3],
            seller_tax_id=row[4],
            buyer_tax_id=row[5],
            total=row[6],
            status=Status(row[7]),
            risk_level=row[8],
            source_hash=int(row[9]),
            doc=row[10],
        )
        for row in rows
    ]


Statement = tuple[str, dict[str, Any]]
"""A write and its query parameters, to run on the main connection or beside it."""


def _write(version: str, source: str, where: str, **params: Any) -> list[Statement]:
    """The rows of ``source`` (the parse table, maybe joined) that ``where`` keeps, as
    new versions (``version``: an SQL expression) the way the store writes them
    (migration 7): each one's row of the lookup copy with its doc, then its row of
    ``invoices`` without it, so a kill between leaves ``invoices`` behind the copy,
    never ahead of it."""
    return [
        (
            "INSERT INTO invoice_lookup (invoice_key, version, status, source_hash, payload) "
            f"SELECT key, {version}, record_status, h, doc FROM {source} WHERE {where} "
            f"{_INVOICE_ORDER}",
            params,
        ),
        (
            "INSERT INTO invoices (invoice_key, kind, issue_date, seller_tax_id, "
            "buyer_tax_id, total, status, record_status, risk_level, source_hash, version) "
            "SELECT key, kind, issue_date, seller_tax_id, buyer_tax_id, total, "
            f"record_status, record_status, risk_level, h, {version} FROM {source} "
            f"WHERE {where} {_INVOICE_ORDER}",
            params,
        ),
    ]


def load_invoices(run: NativeRun) -> BatchResult:
    """The chunk's accepted invoices written (:func:`check_invoices`, then
    :func:`write`)."""
    result, statements = check_invoices(run)
    write(run.cmd, statements)
    return result


def write(command: Callable[..., Any], statements: list[Statement]) -> None:
    """The writes :func:`check_invoices` planned, in order, by ``command`` (the run's
    own connection, or the one that writes beside the next chunk's checks)."""
    for text, params in statements:
        command(text, **params)


def check_invoices(run: NativeRun) -> tuple[BatchResult, list[Statement]]:
    """Step 5's reads for the chunk's accepted invoices: the counts, and the writes
    that load them (on the chunk's slot's tables, their names written out). Writes
    nothing but the run's tables: a chunk of invoices only is checked while the chunk
    before it is written (ingest/_native.py); none of its keys is in that chunk (a
    duplicate within the file is rejected before this)."""
    t, result = run.t, BatchResult()
    statements: list[Statement] = []
    ok = f"SELECT n, key, h FROM {t['pi']} WHERE n NOT IN (SELECT n FROM {t['xi']})"
    now = time.time_ns() // 1000
    # Whether any of a sample of the chunk's keys is recorded: ``invoices`` holds no
    # version without its copy (migration 7), and its parts merge as they come, where
    # the copy's wait for the settle (ingest/_merges.py) and a probe of them read a
    # granule of each (0.004 -> 0.135 CPU-s a chunk over the 20 chunks of 10^6).
    probe = int(
        run.cmd(
            "SELECT count() FROM invoices WHERE invoice_key IN "
            f"(SELECT key FROM ({ok}) ORDER BY h LIMIT 256)"
        )
    )
    total = int(run.cmd(f"SELECT count() FROM ({ok})"))
    if not probe:  # a first load: every row is new (no join with a write list)
        written = total
        if written:
            statements += _write(
                "{now:UInt64}", t["pi"], f"n NOT IN (SELECT n FROM {t['xi']})", now=now
            )
            statements.append(
                (f"INSERT INTO invoice_changes (invoice_key) SELECT key FROM ({ok})", {})
            )
    else:
        # The current versions in ``invoices``, and the copy's newest beside them: a
        # key whose fingerprint differs, or whose version is missing from either (a
        # kill between the two writes), gets a new version above both.
        keys = f"(SELECT key FROM ({ok}))"
        run.cmd(
            f"INSERT INTO {t['twi']} SELECT p.n, greatest({{now:UInt64}}, s.v + 1, c.v + 1), "
            "s.invoice_key != '' AND c.v != s.v "
            f"FROM ({ok}) AS p LEFT JOIN (SELECT invoice_key, argMax(source_hash, version) "
            f"AS sh, max(version) AS v FROM invoices WHERE invoice_key IN {keys} "
            "GROUP BY invoice_key) AS s ON p.key = s.invoice_key "
            "LEFT JOIN (SELECT invoice_key, max(version) AS v FROM invoice_lookup "
            f"WHERE r = 0 AND invoice_key IN {keys} GROUP BY invoice_key) AS c "
            "ON p.key = c.invoice_key WHERE s.invoice_key = '' OR s.sh != p.h OR c.v != s.v",
            now=now,
        )
        same = _same_records(run)
        written = int(run.cmd(f"SELECT count() FROM {t['twi']}")) - same
        if written:
            statements += _write(
                "w.version",
                f"{t['pi']} AS p INNER JOIN {t['twi']} AS w ON p.n = w.n",
                f"p.n NOT IN (SELECT n FROM {t['sm']})",
            )
            statements.append(
                (
                    f"INSERT INTO invoice_changes (invoice_key) SELECT key FROM {t['pi']} "
                    f"WHERE n IN (SELECT n FROM {t['twi']}) "
                    f"AND n NOT IN (SELECT n FROM {t['sm']})",
                    {},
                )
            )
    result.invoices_written = written
    result.invoices_unchanged = total - written
    return result, statements


def _same_records(run: NativeRun) -> int:
    """Rows to write whose current version holds the same record written by the Python
    path (msgpack, another fingerprint: a reload by the other path): compared
    decoded, and left out (in the ``sm`` table). Returns how many."""
    t = run.t
    ns = f"(SELECT n FROM {t['twi']} WHERE NOT lag)"  # a lagging copy is written again
    keys = f"(SELECT key FROM {t['pi']} WHERE n IN {ns})"
    rows = run.rows(
        f"SELECT p.n, p.doc, s.doc AS old_doc FROM {t['pi']} AS p INNER JOIN ("
        f"{current_rows_sql(('invoice_key', 'doc'), keys)}) AS s ON p.key = s.invoice_key "
        f"WHERE p.n IN {ns} AND NOT startsWith(old_doc, '{{') "
        "AND old_doc != ''"
    )
    same = [[n] for n, new, old in rows if decode_doc(new) == decode_doc(old)]
    if same:
        run.client.insert(t["sm"], same, ["n"])
    return len(same)


def load_events(run: NativeRun) -> tuple[BatchResult, list[str]]:
    """The chunk's accepted events written (:func:`check_events`, then
    :func:`write_events`); returns the counts and the keys of the invoices named by its
    status-changing events, to refold once they are recorded."""
    result, rows, keys = check_events(run)
    if rows:
        write_events(run.cmd, run.t["pe"], rows)
    return result, keys


def check_events(run: NativeRun) -> tuple[BatchResult, str, list[str]]:
    """Step 5's reads for the chunk's accepted events: the counts, the condition on
    its parse table (``t["pe"]``, the names of its slot's tables written out) that
    selects the rows to write ('' for none), and the keys of the invoices named by its
    status-changing events. Writes nothing but the run's tables: a chunk of events
    only is checked while the chunk before it is written (ingest/_native.py)."""
    t, result = run.t, BatchResult()
    ok = f"SELECT n, invoice_key, ident FROM {t['pe']} WHERE n NOT IN (SELECT n FROM {t['xe']})"
    # Whether any of the chunk's event ids is recorded under a sample of its invoices
    # (as the Loader's probe). The few ids recorded under the sample form the set the
    # chunk's ids are looked up in: a set of the chunk's ~240 000 ids, the other way
    # round, cost 0.05 s a chunk (2026-11-24). Read from invoice_events, whose parts
    # merge as they come (the copy's wait for the settle, and a probe of them reads a
    # granule of each: 0.65 CPU-s of the events of 10^6). Only a first load skips the
    # check, and a write of recorded events is harmless: a kill that left an event in
    # one of the table and its copy, and a probe that misses it, writes it again to
    # both (the same sort key: merged away, and reads drop a repeated id). The chunk
    # before this one may still be writing: an id of it repeated here is a duplicate
    # within the file (rejected before this), and the window remembers far more ids
    # than one chunk holds.
    probe = int(
        run.cmd(
            f"SELECT count() FROM ({ok}) WHERE ident IN (SELECT event_id FROM invoice_events "
            f"WHERE invoice_key IN (SELECT invoice_key FROM ({ok}) "
            "ORDER BY cityHash64(invoice_key) LIMIT 256))"
        )
    )
    # Known: recorded in both the table and its copy (a view gives no order between
    # them, so a kill can leave an event in either alone; one in the copy alone would
    # otherwise never reach invoice_events, nor the status events its view feeds).
    chunk_keys = f"invoice_key IN (SELECT invoice_key FROM ({ok}))"
    known = (
        f"AND ident NOT IN (SELECT event_id FROM invoice_events WHERE {chunk_keys} "
        f"INTERSECT SELECT event_id FROM invoice_lookup WHERE r = 1 AND {chunk_keys})"
        if probe
        else ""
    )
    total = int(run.cmd(f"SELECT count() FROM ({ok})"))
    if probe:
        run.cmd(f"INSERT INTO {t['twe']} SELECT n FROM ({ok}) WHERE 1 {known}")
        written = int(run.cmd(f"SELECT count() FROM {t['twe']}"))
        rows = f"n IN (SELECT n FROM {t['twe']})"
    else:  # a first load: none of them is recorded
        written = total
        rows = f"n NOT IN (SELECT n FROM {t['xe']})"
    result.events_written = written
    result.events_known = total - written
    # Status-changing events (new or already recorded, as in the Loader: a rerun
    # completes a killed one): their invoices' statuses are folded again in Python.
    keys = run.rows(
        f"SELECT DISTINCT invoice_key FROM {t['pe']} WHERE n NOT IN (SELECT n FROM {t['xe']}) "
        "AND kind IN {status_kinds:Array(String)}"
    )
    return result, rows if written else "", [k for (k,) in keys]


def write_events(command: Callable[[str], Any], events: str, rows: str) -> None:
    """The rows of the parse table ``events`` that ``rows`` selects (from
    :func:`check_events`) written to ``invoice_events`` (its views write the status
    events and the lookup copy), their keys to the change log, by ``command`` (the
    run's own connection, or the one that writes beside the next chunk's checks)."""
    command(
        "INSERT INTO invoice_events (invoice_key, event_time, event_id, kind, "
        "actor_tax_id, channel, detail) SELECT invoice_key, event_time, ident, kind, "
        f"actor_tax_id, channel, detail FROM {events} WHERE {rows} {_EVENT_ORDER}"
    )
    command(
        f"INSERT INTO invoice_changes (invoice_key) SELECT DISTINCT invoice_key "
        f"FROM {events} WHERE {rows}"
    )
