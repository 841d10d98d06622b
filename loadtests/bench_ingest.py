"""Ingest benchmark: ``python -m loadtests.bench_ingest [--invoices N] [--gzip]``.

Phases, each in a fresh process of its own (so peak memory is per phase, and
chDB's one-engine-per-process rule holds):

1. generate N invoices with their events (``fapiao generate``);
2. ingest them into embedded chDB (``fapiao ingest``'s own code path: for NDJSON
   of 4 MB or more the native path, where ClickHouse parses and checks the rows
   and Python handles what it flags, ingest/_native.py; ``--path python`` for the
   Python path) — invoices, then events, timed apart;
3. the lookup copy merged to few parts, as ``fapiao ingest`` ends (timed apart);
   then point lookups of one invoice with its events (p50/p99), both read modes;
4. baseline: chDB's own ``INSERT ... SELECT FROM file(..., JSONEachRow)`` of the
   same files (native C++ parsing, no validation) in the same run;
5. re-ingest of the same files (idempotency: nothing is written); ``--no-reingest``
   leaves it out (about 10 minutes at 10^7).

Prints a table and the ratio of our ingest rate to the baseline's. Rates are
wall-clock; ``cpu`` columns are process CPU seconds (user + sys, chDB's threads
included), which a busy machine disturbs less. Default N runs in about a minute;
``--invoices 1000000`` / ``10000000`` for the figures of docs/import-format.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    k = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + k.ru_utime + k.ru_stime


def _files(out: Path) -> tuple[Path, Path]:
    inv = sorted(out.glob("invoices.*"))
    ev = sorted(out.glob("events.*"))
    return inv[0], ev[0]


# -- phases (run in child processes) ---------------------------------------------------


def phase_generate(n: int, out: Path, gz: bool) -> dict[str, Any]:
    from api.cli import main

    args = ["generate", "--invoices", str(n), "--out", str(out)] + (["--gzip"] if gz else [])
    t0, c0 = time.perf_counter(), _cpu()
    with open(os.devnull, "w") as sink:
        saved, sys.stdout = sys.stdout, sink
        try:
            code = main(args)
        finally:
            sys.stdout = saved
    return {"code": code, "wall": time.perf_counter() - t0, "cpu": _cpu() - c0, "rss": _rss_mb()}


_NATIVE = {"auto": None, "native": True, "python": False}


def phase_ingest(out: Path, data: Path, path_kind: str = "auto") -> dict[str, Any]:
    from ingest._loader import Loader
    from ingest._run import ingest_paths
    from verify import open_store

    inv, ev = _files(out)
    store = open_store(f"chdb://{data}")
    result: dict[str, Any] = {}
    for name, path in (("invoices", inv), ("events", ev)):
        t0, c0 = time.perf_counter(), _cpu()
        (summary,) = ingest_paths(
            [path], Loader(store), rejects_dir=data, progress=False, native=_NATIVE[path_kind]
        )
        result[name] = {
            "rows": summary.rows,
            "rejected": summary.rejected,
            "wall": time.perf_counter() - t0,
            "cpu": _cpu() - c0,
        }
    result["rss"] = _rss_mb()
    store.close()
    return result


def phase_settle(data: Path) -> dict[str, Any]:
    """What ``fapiao ingest`` does after its load: merge the lookup copy to few parts."""
    from verify import open_store

    store = open_store(f"chdb://{data}")
    t0, c0 = time.perf_counter(), _cpu()
    settled = store.settle_lookup()
    store.close()
    return {
        "parts_before": settled.parts_before,
        "parts_after": settled.parts_after,
        "wall": time.perf_counter() - t0,
        "cpu": _cpu() - c0,
    }


def phase_reingest(out: Path, data: Path, path_kind: str = "auto") -> dict[str, Any]:
    from ingest._loader import Loader
    from ingest._run import ingest_paths
    from verify import open_store

    inv, ev = _files(out)
    store = open_store(f"chdb://{data}")
    versions = store.count("invoice_versions")
    t0 = time.perf_counter()
    summaries = ingest_paths(
        [inv, ev], Loader(store), rejects_dir=data, progress=False, native=_NATIVE[path_kind]
    )
    wall = time.perf_counter() - t0
    written = sum(s.loaded.invoices_written + s.loaded.events_written for s in summaries)
    rows = sum(s.rows for s in summaries)
    same = store.count("invoice_versions") == versions
    store.close()
    return {"rows": rows, "wall": wall, "written": written, "versions_unchanged": same}


def phase_lookup(data: Path, samples: int) -> dict[str, Any]:
    from verify import open_store

    out: dict[str, Any] = {}
    for mode in ("argmax", "final"):
        store = open_store(f"chdb://{data}", read_mode=mode)
        keys = [
            r[0]
            for r in store._client.query(
                "SELECT invoice_key FROM invoices ORDER BY cityHash64(invoice_key) LIMIT %(n)s",
                parameters={"n": samples},
            ).result_rows
        ]
        random.Random(1).shuffle(keys)
        for key in keys[:20]:  # warm up
            store.get_invoice_with_events(key)
        times = []
        for key in keys:
            t0 = time.perf_counter()
            inv, _events = store.get_invoice_with_events(key)
            times.append(time.perf_counter() - t0)
            assert inv is not None
        times.sort()
        out[mode] = {
            "p50_ms": times[len(times) // 2] * 1000,
            "p99_ms": times[int(len(times) * 0.99)] * 1000,
            "n": len(times),
        }
        store.close()
    return out


def phase_baseline(out: Path, data: Path) -> dict[str, Any]:
    import clickhouse_connect

    inv, ev = _files(out)
    client = clickhouse_connect.get_client(dsn=f"chdb://{data}")
    client.command("CREATE DATABASE IF NOT EXISTS baseline")
    result: dict[str, Any] = {}
    for name, path in (("invoices", inv), ("events", ev)):
        fmt = "JSONEachRow"
        t0, c0 = time.perf_counter(), _cpu()
        client.command(
            f"CREATE TABLE baseline.{name} ENGINE = MergeTree ORDER BY tuple() AS "
            f"SELECT * FROM file('{path}', {fmt})"
        )
        count = client.command(f"SELECT count() FROM baseline.{name}")
        assert isinstance(count, int | str)  # one value: clickhouse-connect parses integers
        rows = int(count)
        result[name] = {"rows": rows, "wall": time.perf_counter() - t0, "cpu": _cpu() - c0}
    result["rss"] = _rss_mb()
    client.close()
    return result


PHASES = {
    "generate": lambda a: phase_generate(a.invoices, Path(a.out), a.gzip),
    "ingest": lambda a: phase_ingest(Path(a.out), Path(a.data), a.path),
    "reingest": lambda a: phase_reingest(Path(a.out), Path(a.data), a.path),
    "settle": lambda a: phase_settle(Path(a.data)),
    "lookup": lambda a: phase_lookup(Path(a.data), a.samples),
    "baseline": lambda a: phase_baseline(Path(a.out), Path(a.data)),
}


def _child(phase: str, args: argparse.Namespace, data: Path) -> dict[str, Any]:
    cmd = [
        sys.executable, "-m", "loadtests.bench_ingest", "--phase", phase,
        "--invoices", str(args.invoices), "--out", str(args.out), "--data", str(data),
        "--samples", str(args.samples), "--path", args.path,
    ] + (["--gzip"] if args.gzip else [])  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"phase {phase} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:>12,.0f}" if seconds > 0 else f"{'-':>12}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--invoices", type=int, default=50_000)
    p.add_argument("--samples", type=int, default=2_000, help="point lookups to time")
    p.add_argument("--gzip", action="store_true", help="generate and ingest .gz files")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument(
        "--no-reingest",
        action="store_true",
        help="leave out phase 5, the re-ingest (about 10 minutes at 10^7 invoices)",
    )
    p.add_argument(
        "--path",
        choices=sorted(_NATIVE),
        default="auto",
        help="ingest path: auto (as fapiao ingest), native, python",
    )
    p.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.phase:
        print(json.dumps(PHASES[args.phase](args)))
        return 0

    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    args.out = work / "data"
    try:
        n = args.invoices
        print(f"bench_ingest: {n:,} invoices, work dir {work}", file=sys.stderr)
        gen = _child("generate", args, work / "unused")
        inv_file, ev_file = _files(args.out)
        size = inv_file.stat().st_size + ev_file.stat().st_size
        ing = _child("ingest", args, work / "chdb")
        settle = _child("settle", args, work / "chdb")
        again = None if args.no_reingest else _child("reingest", args, work / "chdb")
        look = _child("lookup", args, work / "chdb")
        base = _child("baseline", args, work / "base")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    inv, ev = ing["invoices"], ing["events"]
    rows = inv["rows"] + ev["rows"]
    wall = inv["wall"] + ev["wall"]
    cpu = inv["cpu"] + ev["cpu"]
    b_rows = base["invoices"]["rows"] + base["events"]["rows"]
    b_wall = base["invoices"]["wall"] + base["events"]["wall"]
    b_cpu = base["invoices"]["cpu"] + base["events"]["cpu"]
    print(f"\ningest benchmark, {n:,} invoices ({size / 1e6:,.0f} MB of NDJSON"
          f"{', gzip' if args.gzip else ''}, path {args.path}), {time.strftime('%Y-%m-%d')}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    head = ("phase", "rows", "seconds", "rows/s", "rows/cpu-s", "peak RSS")
    print("{:34} {:>11} {:>8} {:>12} {:>12} {:>9}".format(*head))
    line = "{:34} {:>11,} {:>8.1f} {} {} {:>7.0f}MB"
    print(line.format("generate (invoices)", n, gen["wall"], _rate(n, gen["wall"]),
                      _rate(n, gen["cpu"]), gen["rss"]))  # fmt: skip
    print(line.format("ingest invoices", inv["rows"], inv["wall"], _rate(inv["rows"], inv["wall"]),
                      _rate(inv["rows"], inv["cpu"]), ing["rss"]))  # fmt: skip
    print(line.format("ingest events", ev["rows"], ev["wall"], _rate(ev["rows"], ev["wall"]),
                      _rate(ev["rows"], ev["cpu"]), ing["rss"]))  # fmt: skip
    print(line.format("ingest total", rows, wall, _rate(rows, wall), _rate(rows, cpu), ing["rss"]))
    merged = f"{settle['parts_before']} -> {settle['parts_after']} parts"
    print(f"{'lookup copy merged (fapiao ingest)':34} {merged:>11} {settle['wall']:>8.1f} "
          f"s, {settle['cpu']:.1f} CPU-s")  # fmt: skip
    if again is not None:
        print(line.format("re-ingest (idempotent, 0 written)", again["rows"], again["wall"],
                          _rate(again["rows"], again["wall"]), f"{'':>12}", 0))  # fmt: skip
    print(line.format("baseline: chDB INSERT FROM file", b_rows, b_wall, _rate(b_rows, b_wall),
                      _rate(b_rows, b_cpu), base["rss"]))  # fmt: skip
    rerun = (
        f"re-ingest wrote {again['written']} rows, versions unchanged: "
        f"{again['versions_unchanged']}"
        if again is not None
        else "re-ingest left out"
    )
    print(f"\ningest / baseline: {(rows / wall) / (b_rows / b_wall):.2f}x wall, "
          f"{(rows / cpu) / (b_rows / b_cpu):.2f}x per CPU-second; rejected "
          f"{inv['rejected'] + ev['rejected']}; {rerun}")  # fmt: skip
    for mode, r in look.items():
        print(f"point lookup (invoice + events, read_mode={mode}): p50 {r['p50_ms']:.2f} ms,"
              f" p99 {r['p99_ms']:.2f} ms over {r['n']:,} keys")  # fmt: skip
    print("goals: ingest >= 250,000 rows/s; p50 lookup <= 3 ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
