"""Point lookup of one invoice with its flow: ``python -m loadtests.bench_lookup``.

    python -m loadtests.bench_lookup --invoices 50000          # generate + ingest, then time
    python -m loadtests.bench_lookup --data-dir DIR            # a data dir `fapiao ingest` filled
    python -m loadtests.bench_lookup --url chdb:///DIR/clickhouse --samples 2000

Times ``ClickHouseStore.get_invoice_with_events`` on random existing keys in both
read modes (p50/p99, CPU per lookup), and in the same process, interleaved in
rounds so that load on the machine hits every variant alike:

- ``SELECT 1`` through the same clickhouse-connect client: the floor of any query;
- the store's lookup: one read of ``invoice_lookup`` (migration 4), RowBinary;
- on chDB, the same read with its settings in a ``SETTINGS`` clause and the key as a
  query parameter (before 2026-11-23 19:20; now set once on the reader's connection and
  inlined as a literal);
- the same answer from the two tables (``get_invoice_pair``: the lookup before
  migration 4), newest-first and ``FINAL``;
- the store's two reads alone (invoice, events);
- the same two queries on chDB's own connection (Native bytes, not parsed): what
  clickhouse-connect's Python side adds (chdb:// only);
- one query returning the invoice and its flow together (the flow as a
  ``groupArray`` of tuples in a scalar subquery), decoded: does one beat two?

Since migration 7 (2026-11-24) an invoice's doc is stored in the copy only
(``invoices.doc`` is '' in rows written since): the two-table and one-query variants
then read no doc from ``invoices`` (the store's pair reads take it from the copy, the
raw and one-query variants do not), so their figures do not compare with those taken
before; the served lookup is unchanged.

First, before any other variant has run, the lookup *as served*: the store's one
read alone on keys of its own, in blocks alternated with ``SELECT 1`` blocks (the
same-run floor), as a serving process runs it, after the lookup copy's part files
were read once through the OS page cache (``--no-warm`` skips that). A serving
process in steady state finds the copy there (3.1 GB at 10^7 on a 24 GB machine);
a key whose granule the page cache has lost costs ~0.2-0.4 ms more (740 keys in a
lookup-only process, fresh then again: 3.51 -> 3.35 and 3.54 -> 3.15 ms p50,
2026-11-23 20:23). The mixed rounds that follow run ten query shapes over five
tables in one engine, on whatever the cache holds.

The goal of the issue is p50 <= 3 ms at 10^7 invoices. Prints a table and one JSON
line. Lookups run in this process only (chDB: one engine per process); the optional
ingest runs ``fapiao ingest`` in a child.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
_EVENTS = "invoice_key, event_time, event_id, kind, actor_tax_id, channel, toJSONString(detail)"
_ONE_QUERY = (
    f"SELECT status, version, doc, (SELECT groupArray(tuple({_EVENTS})) FROM invoice_events "
    "WHERE invoice_key = {key:String}) FROM invoices WHERE invoice_key = {key:String}"
)


def _prepare(n: int, work: Path) -> Path:
    """Generate ``n`` invoices and ingest them with ``fapiao ingest`` into ``work/data``."""
    fapiao = [sys.executable, "-m", "api.cli"]
    gen = work / "gen"
    subprocess.run(
        [*fapiao, "generate", "--invoices", str(n), "--seed", "1", "--out", str(gen)],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    data = work / "data"
    files = [str(gen / "invoices.ndjson"), str(gen / "events.ndjson")]
    subprocess.run(
        [*fapiao, "ingest", "--data-dir", str(data), "--no-progress", *files],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    shutil.rmtree(gen)
    return data


def _pct(times: list[float], q: float) -> float:
    return sorted(times)[min(len(times) - 1, int(len(times) * q))] * 1000


def measure(url: str, samples: int, rounds: int, warm: bool = True) -> dict[str, Any]:
    from verify._store._clickhouse import ClickHouseStore

    stores = {mode: ClickHouseStore(url, read_mode=mode) for mode in ("argmax", "final")}
    store = stores["argmax"]
    client = store.client
    keys = [
        r[0]
        for r in client.query(
            "SELECT invoice_key FROM invoices ORDER BY cityHash64(invoice_key) LIMIT %(n)s",
            parameters={"n": 2 * samples},
        ).result_rows
    ]
    random.Random(1).shuffle(keys)
    if not keys:
        raise SystemExit("no invoices in this store: ingest some first (--invoices N)")
    served_keys, keys = keys[: len(keys) // 2] or keys, keys[len(keys) // 2 :] or keys
    info = {
        "invoices": store.count("invoices"),
        "events": int(client.command("SELECT count() FROM invoice_events")),
        "parts": {
            r[0] + ":" + r[1]: int(r[2])
            for r in client.query(
                "SELECT table, part_type, count() FROM system.parts WHERE active AND "
                "database = currentDatabase() "
                "AND table IN ('invoices', 'invoice_events', 'invoice_lookup') "
                "GROUP BY table, part_type ORDER BY table, part_type"
            ).result_rows
        },
    }
    if warm:
        info["page_cache_read"] = _read_parts(client, "invoice_lookup")
    served = _as_served(store, served_keys)
    from verify._store._clickhouse import _BYTES, _INVOICE_SELECT, _POINT

    inv_sql = f"SELECT {_INVOICE_SELECT} FROM invoices WHERE invoice_key = {{key:String}}"
    ev_sql = f"SELECT {_EVENTS} FROM invoice_events WHERE invoice_key = {{key:String}}"
    variants: dict[str, Callable[[str], Any]] = {
        "SELECT 1 (same client)": lambda k: client.query("SELECT 1").result_rows,
        "invoice + events (one read)": stores["argmax"].get_invoice_with_events,
        "two tables, argmax (before)": stores["argmax"].get_invoice_pair,
        "two tables, final": stores["final"].get_invoice_with_events,
        "invoice alone": store.get_invoice,
        "events alone": store.get_events,
        "one query (flow as groupArray)": lambda k: (
            client.query(
                _ONE_QUERY, parameters={"key": k}, column_formats=_BYTES, settings=_POINT
            ).result_rows
        ),
    }
    point = getattr(store, "_point", None)
    if point is not None:  # chdb://: the one read as it was before 19:20 (own connection)
        from chdb.state import connect  # what chdb.connect forwards to, annotated

        from verify._store._clickhouse import _CHDB_LOOKUP_SETTINGS, LOOKUP_SQL
        from verify._store._lookup import parse_lookup

        before = connect(os.path.realpath(urlsplit(url).path))
        before_sql = LOOKUP_SQL.replace("invoice_lookup", f"{store.database}.invoice_lookup")
        before_sql += _CHDB_LOOKUP_SETTINGS
        variants["one read, SETTINGS + parameter (before)"] = lambda k: parse_lookup(
            k, bytes(before.query(before_sql, "RowBinary", params={"key": _tsv(k)}).bytes())
        )
    conn = _raw_connection(client)
    if conn is not None:
        variants["SELECT 1 (raw chdb)"] = lambda k: conn.query("SELECT 1", "Native").bytes()
        variants["invoice + events (raw chdb, unparsed)"] = lambda k: (
            conn.query(inv_sql + " SETTINGS max_threads = 1", "Native", params={"key": k}).bytes(),
            conn.query(ev_sql + " SETTINGS max_threads = 1", "Native", params={"key": k}).bytes(),
        )
    for fn in variants.values():  # warm up: marks, primary index, page cache
        for key in keys[:20]:
            fn(key)
    times: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, float] = dict.fromkeys(variants, 0.0)
    per_round = max(1, len(keys) // rounds)
    order = list(variants)
    for r in range(rounds):
        random.Random(r).shuffle(order)
        batch = keys[r * per_round : (r + 1) * per_round] or keys[:per_round]
        for name in order:
            fn = variants[name]
            c0 = time.process_time()
            for key in batch:
                t0 = time.perf_counter()
                fn(key)
                times[name].append(time.perf_counter() - t0)
            cpu[name] += time.process_time() - c0
    for s in stores.values():
        s.close()
    if point is not None:
        before.close()
    base = _pct(times["SELECT 1 (same client)"], 0.5)
    out = {"as served: one read alone": served} | {
        name: {
            "p50_ms": round(_pct(t, 0.5), 3),
            "p99_ms": round(_pct(t, 0.99), 3),
            "cpu_ms": round(cpu[name] / len(t) * 1000, 3),
            "x_select1": round(_pct(t, 0.5) / base, 2),
            "n": len(t),
        }
        for name, t in times.items()
    }
    return {"info": info, "results": out}


def _read_parts(client: Any, table: str) -> dict[str, float]:
    """Read ``table``'s active part files once, as a serving process in steady state
    has them in the OS page cache; ``{"gb", "s"}``. Local (chdb://) stores only."""
    paths = [
        Path(r[0])
        for r in client.query(
            "SELECT path FROM system.parts WHERE active AND database = currentDatabase() "
            "AND table = %(t)s",
            parameters={"t": table},
        ).result_rows
    ]
    t0, size = time.perf_counter(), 0
    for part in paths:
        for f in part.iterdir() if part.is_dir() else ():
            with f.open("rb") as fh:
                while chunk := fh.read(1 << 22):
                    size += len(chunk)
    return {"gb": round(size / 1e9, 2), "s": round(time.perf_counter() - t0, 1)}


def _as_served(store: Any, keys: list[str], block: int = 100) -> dict[str, Any]:
    """The store's lookup alone, blocks of ``block`` keys alternated with as many
    ``SELECT 1`` on the same client; p50 / p99 and CPU of the lookup, its p50 over the
    same-run ``SELECT 1``."""
    client = store.client
    for key in keys[:20]:  # warm up: marks, primary index, page cache
        store.get_invoice_with_events(key)
    times: list[float] = []
    floor: list[float] = []
    cpu = 0.0
    for i in range(0, len(keys), block):
        for _ in keys[i : i + block]:
            t0 = time.perf_counter()
            client.query("SELECT 1")
            floor.append(time.perf_counter() - t0)
        c0 = time.process_time()
        for key in keys[i : i + block]:
            t0 = time.perf_counter()
            store.get_invoice_with_events(key)
            times.append(time.perf_counter() - t0)
        cpu += time.process_time() - c0
    return {
        "p50_ms": round(_pct(times, 0.5), 3),
        "p99_ms": round(_pct(times, 0.99), 3),
        "cpu_ms": round(cpu / len(times) * 1000, 3),
        "x_select1": round(_pct(times, 0.5) / _pct(floor, 0.5), 2),
        "n": len(times),
    }


def _tsv(value: str) -> str:
    """A query parameter's text as ClickHouse reads it (escaped like a TSV field)."""
    return value.translate(_TSV_ESCAPES)


_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _raw_connection(client: Any) -> Any:
    """chDB's own connection under a chdb:// client (private attributes: benchmark only)."""
    try:
        return client._backend._handle.conn
    except AttributeError:
        return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--invoices", type=int, help="generate and ingest N invoices first")
    src.add_argument("--data-dir", help="a data dir that `fapiao ingest --data-dir` filled")
    src.add_argument("--url", help="a store URL (chdb:///... or http(s)://...)")
    p.add_argument("--samples", type=int, default=2000, help="keys looked up, in each phase")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    p.add_argument(
        "--no-warm",
        action="store_true",
        help="do not read the lookup copy's files into the page cache first",
    )
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-lookup-"))
    try:
        if args.url:
            url = args.url
        else:
            t0 = time.perf_counter()
            data = _prepare(args.invoices, work) if args.invoices else Path(args.data_dir)
            if args.invoices:
                print(
                    f"generated and ingested {args.invoices} invoices in "
                    f"{time.perf_counter() - t0:.0f} s"
                )
            url = f"chdb:///{data.resolve()}/clickhouse"
        warm = not args.no_warm and url.startswith("chdb:")  # the files are local
        result = measure(url, args.samples, args.rounds, warm=warm)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    info = result["info"]
    print(f"store: {info['invoices']} invoices, {info['events']} event rows, parts {info['parts']}")
    if "page_cache_read" in info:
        read = info["page_cache_read"]
        print(f"page cache: read the lookup copy's parts first ({read['gb']} GB, {read['s']} s)")
    print(f"{'variant':40s} {'p50 ms':>8s} {'p99 ms':>8s} {'CPU ms':>8s} {'x SELECT 1':>10s}")
    for name, r in result["results"].items():
        print(
            f"{name:40s} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['cpu_ms']:8.2f} "
            f"{r['x_select1']:10.2f}"
        )
    print("goal: invoice + events p50 <= 3 ms at 10^7 invoices")
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
