"""The invoice store on ClickHouse through clickhouse-connect: embedded chDB or a server.

One class, one code path: the DSN picks the engine.

- ``chdb:///abs/path`` (optionally ``?database=name``): ClickHouse in this process;
  chDB locks the directory to one process (see ingest/_handoff.py).
- ``http(s)://user:pass@host:8123/name``: a ClickHouse server (one node: the
  migrations create plain tables, no ``ON CLUSTER``; docs/adr/0001).

The database (default ``fapiao``) is created when missing, then the migrations of
_schema.py run. Every driver error leaves here as :class:`verify.StoreError`.
"""

from __future__ import annotations

import contextlib
import copy
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec

from verify._errors import StoreError
from verify._model import Invoice, InvoiceEvent, Status
from verify._store._base import InvoiceStore
from verify._store._lookup import parse_lookup
from verify._store._rows import (
    EVENT_COLUMNS,
    INVOICE_COLUMNS,
    READ_COLUMNS,
    PreparedInvoice,
    encode_doc,
    event_columns,
    event_from_row,
    invoice_columns,
    invoice_from_row,
    prepared_columns,
)
from verify._store._schema import LOOKUP_INVOICE_COLUMNS, MIGRATIONS, SCHEMA_MIGRATIONS_DDL
from verify._store._settle import Settled, settle_lookup

DEFAULT_DATABASE: Final = "fapiao"
_IN_CHUNK: Final = 20_000
"""Keys per ``IN (...)`` list: keeps each statement a few hundred KB."""
_SESSION_SETTINGS: Final = {"max_query_size": 64 * 1024 * 1024}
"""Key lists go as ``{keys:Array(String)}`` parameters (parsed twice as fast as an
inline ``IN (...)`` list; over HTTP they travel form-encoded in the body)."""
_INVOICE_SELECT: Final = ", ".join(READ_COLUMNS)
"""A read's columns of ``invoices`` as they are (loadtests/bench_lookup.py times such a
read; since migration 7 ``doc`` is '' there in rows written since: current_rows_sql)."""
_BYTES: Final = {"doc": "bytes"}
_EVENT_SELECT: Final = ", ".join(EVENT_COLUMNS).replace("detail", "toJSONString(detail)")
"""``detail`` as JSON text: clickhouse-connect's Map decoding cost ~2.5 ms a lookup."""
_POINT: Final = {"max_threads": 1}
"""Settings of a one-key read: it touches one granule a part, so reading parts on
worker threads only adds thread handoffs (loadtests/bench_lookup.py)."""
_CHANGES_SQL: Final = (
    "SELECT invoice_key, toUnixTimestamp64Micro(changed_at) FROM invoice_changes "
    "WHERE changed_at > fromUnixTimestamp64Micro(%(wm)s, 'UTC') {and_}ORDER BY changed_at "
)
_CHANGES_PAGE: Final = _CHANGES_SQL.format(and_="") + "LIMIT %(n)s"
_CHANGES_AT: Final = _CHANGES_SQL.format(
    and_="AND changed_at = fromUnixTimestamp64Micro(%(at)s, 'UTC') "
)
_APPEND: Final = {"optimize_on_insert": 0}
"""Settings of an append whose rows reads dedup anyway: no replacing pass per block."""
_LOOKUP_SELECT: Final = (
    "SELECT r, status, version, payload FROM invoice_lookup WHERE invoice_key = "
)
_LOOKUP_SETTINGS: Final = (
    "max_threads = 1, query_plan_enable_optimizations = 0, output_format_parallel_formatting = 0"
)
LOOKUP_SQL: Final = _LOOKUP_SELECT + "{key:String} SETTINGS " + _LOOKUP_SETTINGS
"""An invoice's versions and flow in one read (migration 4), as RowBinary: settings
inline, since the raw path would apply a ``settings`` dict with extra statements.
No query-plan optimisation passes: they cost ~0.5 ms of a ~4 ms lookup in chDB and
have nothing to improve on a one-range read (the primary key still selects the one
granule a part; A/B in loadtests/bench_lookup.py, docs/adr/0001). No parallel
formatting: a handful of rows gains nothing from formatting threads (~0.4 ms)."""
_CHDB_LOOKUP_SETTINGS: Final = ", use_query_condition_cache = 0"
"""Added on chDB (pinned version; the setting is new in ClickHouse 25.3): each new
key would add an entry to the query condition cache and never hit it (~0.2 ms)."""
_CHDB_POINT_SESSION: Final = "SET " + _LOOKUP_SETTINGS + _CHDB_LOOKUP_SETTINGS
"""On chDB the point reader's own connection holds the one read's settings (a chDB
connection keeps its ``SET`` settings; the client's connection is untouched), and the
key is inlined as a literal: no ``SETTINGS`` clause to parse and apply, no parameter
to substitute, per lookup. Per-key interleaved A/B at 10^7 (docs/adr/0001, 19:14):
0.94x for the settings set once, 0.91x with the literal key as well."""


_ROW_COLUMNS: Final = INVOICE_COLUMNS[:-1]
"""An invoice version's columns in ``invoices`` but ``doc`` (migration 7: '' there)."""
_COPY_FROM_ROW: Final = tuple(
    INVOICE_COLUMNS.index("doc" if c == "payload" else c) for c in LOOKUP_INVOICE_COLUMNS
)
"""Where each of LOOKUP_INVOICE_COLUMNS lies in a version's INVOICE_COLUMNS."""
_STATUS: Final = INVOICE_COLUMNS.index("status")
_VERSION: Final = INVOICE_COLUMNS.index("version")


def current_rows_sql(columns: Sequence[str], keys: str, *, final: bool = False) -> str:
    """``columns`` of the current version of each invoice whose key is ``IN keys`` (a
    parameter, a tuple or a subquery in parentheses), read from ``invoices`` (newest
    version first and ``LIMIT 1 BY``, or ``FINAL``). ``doc`` is that version's doc:
    from ``invoices`` where it is not '' (written before migration 7), else from the
    lookup copy's row of the same version, which every writer puts there before the
    version's row of ``invoices`` (migration 7)."""
    inner = ", ".join(dict.fromkeys(["invoice_key", "version", *columns, "doc"]))
    if final:
        current = f"SELECT {inner} FROM invoices FINAL WHERE invoice_key IN {keys}"
    else:
        current = (
            f"SELECT {inner} FROM invoices WHERE invoice_key IN {keys} "
            "ORDER BY invoice_key, version DESC LIMIT 1 BY invoice_key"
        )
    outer = ", ".join(
        "if(i.doc != '', i.doc, c.payload) AS doc" if c == "doc" else f"i.{c} AS {c}"
        for c in columns
    )
    return (
        f"SELECT {outer} FROM ({current}) AS i LEFT JOIN (SELECT invoice_key, version, "
        "any(payload) AS payload FROM invoice_lookup WHERE r = 0 AND invoice_key IN "
        f"{keys} GROUP BY invoice_key, version) AS c "
        "ON i.invoice_key = c.invoice_key AND i.version = c.version"
    )


def _literal(value: str) -> str:
    """``value`` as a ClickHouse string literal: backslash, quote and NUL escaped."""
    return "'" + value.translate(_LITERAL_ESCAPES) + "'"


_LITERAL_ESCAPES: Final = str.maketrans({"\\": "\\\\", "'": "\\'", "\0": "\\0"})


def split_url(url: str) -> tuple[str, str]:
    """``(dsn without the database, database)`` for a chdb or http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme == "chdb":
        query = dict(parse_qsl(parts.query))
        database = query.pop("database", "") or DEFAULT_DATABASE
        # "chdb:///" + an absolute path has four slashes: keep one before the path
        path = "/" + (parts.netloc + parts.path).lstrip("/") if parts.path else ""
        rest = f"chdb://{path}" + (f"?{urlencode(query)}" if query else "")
        return rest, database
    if parts.scheme in ("http", "https"):
        database = parts.path.strip("/") or DEFAULT_DATABASE
        query = dict(parse_qsl(parts.query))
        database = query.pop("database", database)
        rest = urlunsplit(parts._replace(path="", query=urlencode(query)))
        return rest, database
    raise StoreError(
        f"unsupported ClickHouse URL scheme {parts.scheme!r} (use chdb:/// or http(s)://)",
        code="store_url",
    )


@contextlib.contextmanager
def _wrapped(action: str) -> Iterator[None]:
    """Map every driver exception into StoreError (STYLE 3)."""
    try:
        yield
    except StoreError:
        raise
    except Exception as exc:
        raise StoreError(f"ClickHouse {action} failed: {exc}", code="store_error") from exc


def _chunks(items: Sequence[str], size: int = _IN_CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _flow(rows: list[Any]) -> list[InvoiceEvent]:
    """Event rows of one invoice in time order, a replayed event_id not merged away yet
    dropped. A handful of rows: cheaper here than ORDER BY / LIMIT 1 BY in the query."""
    rows.sort(key=lambda r: (r[1], r[2]))
    seen: set[str] = set()
    events = []
    for row in rows:
        if row[2] not in seen:
            seen.add(row[2])
            events.append(event_from_row(row))
    return events


class _PointReader:
    """chDB's own connection handle for the one-read lookup (embedded engine only).

    clickhouse-connect's raw path adds ~0.5 ms a lookup in Python (measured in one
    process, 10^6 invoices: 4.57 vs 4.02 ms p50); chDB allows several handles on
    the one engine of a process, so this one sits beside the client's. One call at
    a time on a handle (as the driver does)."""

    def __init__(self, conn: Any, database: str) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        conn.query(_CHDB_POINT_SESSION)
        self._sql = _LOOKUP_SELECT.replace("invoice_lookup", f"{database}.invoice_lookup")

    def read(self, invoice_key: str) -> bytes:
        with self._lock:
            result = self._conn.query(self._sql + _literal(invoice_key), "RowBinary")
            return bytes(result.bytes())

    def close(self) -> None:
        with self._lock, contextlib.suppress(Exception):
            self._conn.close()


def _open_point_reader(dsn: str, database: str) -> _PointReader | None:
    """A :class:`_PointReader` on a ``chdb://`` DSN's engine; None for a server."""
    parts = urlsplit(dsn)
    if parts.scheme != "chdb" or not parts.path:
        return None
    from chdb.state import connect  # what chdb.connect forwards to, with its annotations

    path = os.path.realpath(parts.path)  # as clickhouse-connect spells it (chDB compares)
    target = f"{path}?{parts.query}" if parts.query else path
    with _wrapped("connect"):
        return _PointReader(connect(target), database)


class InvoiceState(msgspec.Struct, frozen=True, kw_only=True):
    """The current version's bookkeeping, as ingest needs it."""

    source_hash: int
    version: int
    status: Status
    record_status: Status
    kind: str
    doc_in_row: bool = False
    """The version holds its doc in ``invoices``: written before migration 7, when a
    view copied it into the lookup copy, maybe (after a kill) not yet. A version
    written since has its doc in the copy alone, written there first."""


_last_version = [0]
_version_lock = threading.Lock()


def _version_now() -> int:
    """Row versions are microseconds since the epoch, strictly increasing in a process
    (two writes in one microsecond must not tie)."""
    with _version_lock:
        version = max(time.time_ns() // 1000, _last_version[0] + 1)
        _last_version[0] = version
        return version


class ClickHouseStore(InvoiceStore):
    """:class:`InvoiceStore` on ClickHouse (embedded chDB or a server).

    ``read_mode`` picks how the current version is read: ``"argmax"`` (one row per
    key by ``LIMIT 1 BY`` over ``version``) or ``"final"`` (``SELECT ... FINAL``).
    Both never show a stale version; see docs/adr/0001 for the measurements.
    """

    def __init__(
        self,
        url: str,
        *,
        database: str | None = None,
        read_mode: str = "argmax",
        migrate: bool = True,
    ) -> None:
        import clickhouse_connect

        dsn, url_database = split_url(url)
        self.url = url
        self.database = database or url_database
        if not self.database.replace("_", "").isalnum():
            raise StoreError(f"invalid database name {self.database!r}", code="store_url")
        if read_mode not in ("argmax", "final"):
            raise StoreError(f"unknown read_mode {read_mode!r}", code="store_config")
        self.read_mode = read_mode
        with _wrapped("connect"):
            boot = clickhouse_connect.get_client(dsn=dsn)
            try:
                boot.command(f"CREATE DATABASE IF NOT EXISTS {self.database}")
            finally:
                boot.close()
            extra: dict[str, Any] = {}
            if not dsn.startswith("chdb:"):
                extra["form_encode_query_params"] = True  # key lists in the body
            self._client: Any = clickhouse_connect.get_client(
                dsn=dsn, database=self.database, settings=_SESSION_SETTINGS, **extra
            )
        self._dsn, self._extra = dsn, extra
        self._events_insert: Any = None
        """The reusable insert context of ``invoice_events`` (built on first use)."""
        self._events_lock = threading.Lock()
        self._point = _open_point_reader(dsn, self.database)
        if migrate:
            self.migrate()

    @property
    def client(self) -> Any:
        """The clickhouse-connect client, for callers that run their own SQL on this
        database (ingest's native NDJSON path: ingest/_native.py)."""
        return self._client

    def another_client(self) -> Any:
        """A second clickhouse-connect client on the same engine and database: chDB runs
        queries of two connections at once (ingest parses the next chunk on one while
        it loads a chunk on the other, ingest/_native.py). The caller closes it."""
        import clickhouse_connect

        with _wrapped("connect"):
            return clickhouse_connect.get_client(
                dsn=self._dsn, database=self.database, settings=_SESSION_SETTINGS, **self._extra
            )

    def sibling(self) -> ClickHouseStore:
        """This store on a connection of its own (:meth:`another_client`), sharing the
        rest: ingest refolds a chunk's statuses on it while the next chunk loads on this
        one (ingest/_native.py). The caller closes it (``sibling.client.close()``)."""
        twin = copy.copy(self)
        twin._client = self.another_client()
        twin._events_insert = None
        twin._events_lock = threading.Lock()
        return twin

    # -- schema -----------------------------------------------------------------------

    def migrate(self) -> None:
        with _wrapped("migration"):
            self._client.command(SCHEMA_MIGRATIONS_DDL)
            done = {
                row[0]
                for row in self._client.query("SELECT version FROM schema_migrations").result_rows
            }
            layout = self._client.query(
                "SELECT name FROM system.columns WHERE database = {db:String} "
                "AND table = 'invoices' AND name = 'doc'",
                parameters={"db": self.database},
            ).result_rows
            if done and not layout:
                raise StoreError(
                    f"database {self.database} holds a pre-release registry layout (before "
                    "the doc column): drop it (or remove the data dir) and ingest again",
                    code="store_schema_outdated",
                )
            for version, name, statements in MIGRATIONS:
                if version in done:
                    continue
                for statement in statements:
                    if isinstance(statement, str):
                        self._client.command(statement)
                    else:
                        statement(self._client, self.database)
                self._client.insert(
                    "schema_migrations", [[version, name]], column_names=["version", "name"]
                )

    def settle_lookup(self, **limits: Any) -> Settled:
        """Merge the lookup copy down to a few parts (verify/_store/_settle.py): what
        ``fapiao ingest`` does after a load into the embedded engine. Its partitions
        are merged at once, each on a connection of its own (:meth:`another_client`)."""
        with _wrapped("optimize"):
            return settle_lookup(self._client, self.database, connect=self.another_client, **limits)

    def applied_migrations(self) -> list[int]:
        with _wrapped("query"):
            rows = self._client.query(
                "SELECT DISTINCT version FROM schema_migrations ORDER BY version"
            ).result_rows
        return [int(r[0]) for r in rows]

    # -- reads ------------------------------------------------------------------------

    def _current_sql(self, keys: str) -> str:
        final = self.read_mode == "final"
        return current_rows_sql(READ_COLUMNS, keys, final=final)

    def get_invoice(self, invoice_key: str) -> Invoice | None:
        """The current version from ``invoices`` (its doc as :func:`current_rows_sql`
        finds it): the other way to read what :meth:`get_invoice_with_events` reads."""
        with _wrapped("query"):
            rows = self._client.query(
                self._current_sql("({key:String})"),
                parameters={"key": invoice_key},
                column_formats=_BYTES,
                settings=_POINT,
            ).result_rows
        return invoice_from_row(rows[0]) if rows else None

    def get_invoices(self, invoice_keys: Sequence[str]) -> dict[str, Invoice]:
        found: dict[str, Invoice] = {}
        sql = self._current_sql("{keys:Array(String)}")
        for row in self._rows_for_keys(sql, invoice_keys, column_formats=_BYTES):
            inv = invoice_from_row(row)
            found[inv.invoice_key] = inv
        return found

    def get_events(self, invoice_key: str) -> list[InvoiceEvent]:
        with _wrapped("query"):
            rows = self._client.query(
                f"SELECT {_EVENT_SELECT} FROM invoice_events WHERE invoice_key = {{key:String}}",
                parameters={"key": invoice_key},
                settings=_POINT,
            ).result_rows
        return _flow(rows)

    def get_invoice_with_events(
        self, invoice_key: str
    ) -> tuple[Invoice | None, list[InvoiceEvent]]:
        """The invoice and its flow in one read of one sorted range (``invoice_lookup``,
        kept by materialized views; docs/adr/0001), decoded from RowBinary here.

        ``read_mode="final"`` reads the two tables instead (two point reads)."""
        if self.read_mode == "final":
            return self.get_invoice_pair(invoice_key)
        with _wrapped("query"):
            if self._point is not None:
                data = self._point.read(invoice_key)
            else:
                data = self._client.raw_query(
                    LOOKUP_SQL, parameters={"key": invoice_key}, fmt="RowBinary"
                )
        return parse_lookup(invoice_key, data)

    def get_invoice_pair(self, invoice_key: str) -> tuple[Invoice | None, list[InvoiceEvent]]:
        """The invoice and its flow from ``invoices`` and ``invoice_events`` (two point
        reads): what :meth:`get_invoice_with_events` answers, read the other way."""
        invoice = self.get_invoice(invoice_key)
        return invoice, (self.get_events(invoice_key) if invoice is not None else [])

    def verification_counts(self, invoice_keys: Sequence[str]) -> dict[str, int]:
        rows = self._rows_for_keys(
            "SELECT invoice_key, uniqExact(event_id) FROM invoice_events "
            "WHERE invoice_key IN {keys:Array(String)} AND kind = 'verified' "
            "GROUP BY invoice_key",
            invoice_keys,
        )
        return {r[0]: int(r[1]) for r in rows}

    def invoice_states(self, invoice_keys: Sequence[str]) -> dict[str, InvoiceState]:
        """What ingest needs to know of the current versions: fingerprint, status, base."""
        rows = self._rows_for_keys(
            "SELECT invoice_key, source_hash, version, status, record_status, kind, "
            "NOT empty(doc) FROM invoices WHERE invoice_key IN {keys:Array(String)} "
            "ORDER BY invoice_key, version DESC LIMIT 1 BY invoice_key",
            invoice_keys,
        )
        return {
            r[0]: InvoiceState(
                source_hash=int(r[1]),
                version=int(r[2]),
                status=Status(r[3]),
                record_status=Status(r[4]),
                kind=r[5],
                doc_in_row=bool(r[6]),
            )
            for r in rows
        }

    def current_docs(self, invoice_keys: Sequence[str]) -> dict[str, bytes]:
        """The stored record (``doc``) of each key's current version."""
        rows = self._rows_for_keys(
            current_rows_sql(("invoice_key", "doc"), "{keys:Array(String)}"),
            invoice_keys,
            column_formats=_BYTES,
        )
        return {r[0]: r[1] for r in rows}

    def existing_event_ids(self, invoice_keys: Sequence[str]) -> set[str]:
        """Event ids already recorded for these invoices (ingest skips them): those in
        both ``invoice_events`` and the lookup copy. A view gives no order between the
        two, so an event a kill left in either alone is written again (to both; the
        repeat merges away, and reads drop a repeated id)."""
        rows = self._rows_for_keys(
            "SELECT event_id FROM invoice_events WHERE invoice_key IN {keys:Array(String)} "
            "INTERSECT SELECT event_id FROM invoice_lookup "
            "WHERE invoice_key IN {keys:Array(String)} AND r = 1",
            invoice_keys,
        )
        return {r[0] for r in rows}

    def lookup_versions(self, invoice_keys: Sequence[str]) -> dict[str, int]:
        """The newest version of each invoice that ``invoice_lookup`` holds. Ingest
        compares it with the table's: a kill between a version's part in
        ``invoices`` and its copy leaves it lower, and the version is written again."""
        rows = self._rows_for_keys(
            "SELECT invoice_key, max(version) FROM invoice_lookup "
            "WHERE invoice_key IN {keys:Array(String)} AND r = 0 GROUP BY invoice_key",
            invoice_keys,
        )
        return {r[0]: int(r[1]) for r in rows}

    def status_events(self, invoice_keys: Sequence[str]) -> dict[str, list[InvoiceEvent]]:
        """The status-changing events of these invoices, each list in time order."""
        out: dict[str, list[InvoiceEvent]] = {}
        rows = self._rows_for_keys(
            f"SELECT {_EVENT_SELECT} FROM invoice_status_events "
            "WHERE invoice_key IN {keys:Array(String)} "
            "ORDER BY invoice_key, event_time, event_id LIMIT 1 BY event_id",
            invoice_keys,
        )
        for row in rows:
            out.setdefault(row[0], []).append(event_from_row(row))
        return out

    def _rows_for_keys(
        self, sql: str, invoice_keys: Sequence[str], **query_options: Any
    ) -> Iterator[Any]:
        """Rows of ``sql`` (which names ``{keys:Array(String)}``) for the distinct keys,
        asked in chunks so that no query parameter grows without bound."""
        for chunk in _chunks(list(dict.fromkeys(invoice_keys))):
            with _wrapped("query"):
                yield from self._client.query(
                    sql, parameters={"keys": list(chunk)}, **query_options
                ).result_rows

    def count(self, table: str) -> int:
        """Logical rows: invoices by key, events by event_id (tests and benchmarks)."""
        sql = {
            "invoices": "SELECT uniqExact(invoice_key) FROM invoices",
            "invoice_versions": "SELECT count() FROM (SELECT DISTINCT invoice_key, version "
            "FROM invoices)",
            "invoice_events": "SELECT uniqExact(event_id) FROM invoice_events",
            "invoice_changes": "SELECT count() FROM invoice_changes",
        }[table]
        with _wrapped("query"):
            return int(self._client.command(sql))

    # -- writes -----------------------------------------------------------------------

    def insert_invoices(
        self,
        invoices: Sequence[Invoice],
        *,
        statuses: Sequence[Status] | None = None,
        versions: Sequence[int] | None = None,
        docs: Sequence[bytes] | None = None,
        log_changes: bool = True,
    ) -> None:
        """Write whole invoice rows (one insert: a row is never half written).

        Each invoice's ``status`` is its record's own; ``statuses`` may override
        the status shown (ingest folds status events over the record's). Versions
        default to each invoice's ``version``, or the current time in microseconds
        where that is 0, so a later write supersedes an earlier one. ``docs`` may
        pass precomputed ``encode_doc`` values. The keys go to the change log.
        """
        if not invoices:
            return
        if versions is None:
            now = _version_now()
            versions = [inv.version or now for inv in invoices]
        if docs is None:
            docs = [encode_doc(inv) for inv in invoices]
        self._write_versions(invoice_columns(invoices, docs, statuses=statuses, versions=versions))
        if log_changes:
            self.record_changes(inv.invoice_key for inv in invoices)

    def insert_prepared(
        self,
        rows: Sequence[PreparedInvoice],
        *,
        statuses: Sequence[Status],
        versions: Sequence[int],
    ) -> None:
        """As :meth:`insert_invoices` for rows ingest workers prepared (one insert);
        ``statuses`` are the statuses to show, ``versions`` the row versions. The
        caller logs the changed keys."""
        if not rows:
            return
        self._write_versions(prepared_columns(rows, statuses=statuses, versions=versions))

    def _write_versions(self, columns: list[list[Any]]) -> None:
        """Invoice versions (column-oriented, INVOICE_COLUMNS order, docs last): each
        version's row of the lookup copy with its doc first, then its row of
        ``invoices`` without it (migration 7: the doc stored once). A kill between the
        two leaves whole versions in the copy that ``invoices`` lacks, never the other
        way round; ingest's checks read ``invoices``, so a rerun writes them again."""
        self._write_copies(columns)
        self._write_rows(columns)

    def _write_copies(self, columns: list[list[Any]]) -> None:
        """The versions' rows of the lookup copy, with their docs."""
        with _wrapped("insert"):
            self._client.insert(
                "invoice_lookup",
                [columns[i] for i in _COPY_FROM_ROW],
                column_names=LOOKUP_INVOICE_COLUMNS,
                column_oriented=True,
                settings=_APPEND,
            )

    def _write_rows(self, columns: list[list[Any]]) -> None:
        """The versions' rows of ``invoices``, their docs left '' (migration 7)."""
        with _wrapped("insert"):
            self._client.insert(
                "invoices", columns[:-1], column_names=_ROW_COLUMNS, column_oriented=True
            )

    def set_statuses(self, statuses: dict[str, Status]) -> None:
        """Write a new version of each invoice with a new status (all else copied).

        The current versions are read (their docs as :func:`current_rows_sql` finds
        them) and written again whole with the new status and a higher version, as
        every version is written (:meth:`_write_versions`: the lookup copy first).
        """
        if not statuses:
            return
        keys = list(statuses)
        rows: list[Any] = []
        for chunk in _chunks(keys):
            with _wrapped("query"):
                rows += self._client.query(
                    current_rows_sql(INVOICE_COLUMNS, "{keys:Array(String)}"),
                    parameters={"keys": list(chunk)},
                    column_formats=_BYTES,
                ).result_rows
        if not rows:
            return
        if any(not row[-1] for row in rows):
            missing = next(row[0] for row in rows if not row[-1])
            raise StoreError(f"invoice {missing} has no stored doc", code="store_error")
        now = _version_now()
        columns = [list(c) for c in zip(*rows, strict=True)]
        columns[_STATUS] = [statuses[k].value for k in columns[0]]
        columns[_VERSION] = [max(int(v) + 1, now) for v in columns[_VERSION]]
        self._write_versions(columns)
        self.record_changes(keys)

    def insert_events(self, events: Sequence[InvoiceEvent]) -> None:
        """Append flow events. An ``event_id`` already present is not shown twice:
        ReplacingMergeTree drops the duplicate at merge and reads dedup with
        ``LIMIT 1 BY event_id`` (ingest also filters known ids before inserting).

        Written without the insert-time replacing pass (``optimize_on_insert = 0``, as
        the native ingest writes): a recorder batch never repeats an id and reads dedup
        anyway; 6 000-row batches in chDB 6.65 -> 5.74 us of CPU a row (2026-11-23).

        Through an insert context built once: ``client.insert`` without one runs
        ``DESCRIBE TABLE`` before every insert (~1.3 ms in chDB, 0.15 us a row of a
        9 000-row recorder batch). It holds the batch while it is written, so one insert
        at a time uses it; a failed insert drops it.
        """
        if not events:
            return
        with self._events_lock, _wrapped("insert"):
            if self._events_insert is None:
                self._events_insert = self._client.create_insert_context(
                    "invoice_events", EVENT_COLUMNS, column_oriented=True, settings=_APPEND
                )
            try:
                self._client.insert(data=event_columns(events), context=self._events_insert)
            except BaseException:
                self._events_insert = None  # the next insert describes the table afresh
                raise

    def record_changes(self, invoice_keys: Iterable[str]) -> None:
        """Append keys to the change log (cache coherence across processes)."""
        keys = list(dict.fromkeys(invoice_keys))
        if not keys:
            return
        with _wrapped("insert"):
            self._client.insert(
                "invoice_changes", [keys], column_names=["invoice_key"], column_oriented=True
            )

    def changes_since(
        self, watermark: int | None, *, limit: int = 100_000
    ) -> tuple[list[str], int]:
        """Invoice keys changed after ``watermark`` and the watermark to pass next time.

        ``None`` starts from now (nothing to evict). Watermarks are microseconds
        since the epoch of the change log's ``changed_at``; a change is reported
        at least once, in rare overlaps more than once (evicting twice is harmless).
        """
        with _wrapped("query"):
            if watermark is None:
                now = self._client.command("SELECT toUnixTimestamp64Micro(now64(6))")
                return [], int(now)
            # One query unless the page is full (a serving process polls every second).
            # Rows of one insert share one changed_at, so a full page ends on whole
            # writes: its last timestamp's rows are read whole by a second query.
            limit = max(int(limit), 1)
            params = {"wm": int(watermark), "n": limit + 1}
            rows = self._client.query(_CHANGES_PAGE, parameters=params).result_rows
            if len(rows) > limit:
                last = int(rows[limit - 1][1])
                rows = [r for r in rows[:limit] if r[1] < last] + self._client.query(
                    _CHANGES_AT, parameters={**params, "at": last}
                ).result_rows
        if not rows:
            return [], int(watermark)
        keys = list(dict.fromkeys(r[0] for r in rows))
        return keys, int(rows[-1][1])

    def ping(self) -> bool:
        try:
            return int(self._client.command("SELECT 1")) == 1
        except Exception:
            return False

    def close(self) -> None:
        if self._point is not None:
            self._point.close()
        with contextlib.suppress(Exception):
            self._client.close()

    def __enter__(self) -> ClickHouseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
