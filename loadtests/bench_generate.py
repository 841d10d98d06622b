"""How fast ``fapiao generate`` writes, and that its memory does not grow with N.

    python -m loadtests.bench_generate --invoices 1000000 [--gzip] [--format csv]

Runs the generator at two sizes (N/10 and N), each in a fresh process so peak RSS
is its own: the parent (which writes) and the largest worker (which renders).
The baseline, measured in the same run, is what the generator can never beat:
msgspec-encoding the same number of one constant invoice record (and its events)
and writing them to a file, in one process. The ratio says how close generation
comes to pure encoding.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec


def _child(args: argparse.Namespace) -> None:
    from ingest import _generate

    summary = _generate.generate(
        args.child,
        args.seed,
        Path(args.out),
        fmt=args.format,
        gzip=args.gzip,
        today=dt.date.fromisoformat(args.today),
        workers=args.workers,
    )
    assert summary.invoices_path is not None
    assert summary.events_path is not None
    print(
        json.dumps(
            {
                "invoices": summary.invoices,
                "events": summary.events,
                "seconds": summary.seconds,
                "bytes": summary.invoices_path.stat().st_size + summary.events_path.stat().st_size,
                "rss_parent_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "rss_worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            }
        )
    )


def _run_size(n: int, out: Path, args: argparse.Namespace) -> dict[str, float]:
    cmd = [
        sys.executable,
        "-m",
        "loadtests.bench_generate",
        "--child",
        str(n),
        "--out",
        str(out),
        "--seed",
        str(args.seed),
        "--format",
        args.format,
        "--today",
        args.today,
    ]
    if args.gzip:
        cmd.append("--gzip")
    if args.workers is not None:
        cmd += ["--workers", str(args.workers)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _baseline(n: int, out: Path, events_per_invoice: float, today: dt.date) -> float:
    """Invoices/s for encoding ``n`` copies of one record (plus its events) and writing them."""
    from ingest import _generate
    from ingest._generate_base import CHUNK

    invoice, events = next(_generate.iter_invoices_and_events(1, 1, today))
    encoder = msgspec.json.Encoder()
    chunk = CHUNK
    ev_per_chunk = round(chunk * events_per_invoice)
    ev_batch = [events[i % len(events)] for i in range(ev_per_chunk)]
    inv_batch = [invoice] * chunk
    started = time.perf_counter()
    with open(out / "baseline.ndjson", "wb") as f, open(out / "baseline-events.ndjson", "wb") as g:
        for _ in range(max(1, n // chunk)):
            f.write(encoder.encode_lines(inv_batch))
            g.write(encoder.encode_lines(ev_batch))
    seconds = time.perf_counter() - started
    (out / "baseline.ndjson").unlink()
    (out / "baseline-events.ndjson").unlink()
    return max(1, n // chunk) * chunk / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench_generate")
    parser.add_argument("--invoices", type=int, default=1_000_000, help="the larger size N")
    parser.add_argument("--small", type=int, help="the smaller size (default N/10)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--format", choices=["ndjson", "csv"], default="ndjson")
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--workers", type=int, help="worker processes (default: generate's)")
    parser.add_argument("--out", help="directory for the files (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--today", default="2026-03-31", help="the generator's today")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        _child(args)
        return 0
    base = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench-generate-"))
    sizes = [args.small or max(1, args.invoices // 10), args.invoices]
    print(
        f"fapiao generate benchmark: {args.format}{' + gzip' if args.gzip else ''}, "
        f"seed {args.seed}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    )
    header = (
        f"{'invoices':>11} {'events':>11} {'seconds':>8} {'invoices/s':>11} "
        f"{'events/s':>10} {'MB':>8} {'RSS parent':>11} {'RSS worker':>11}"
    )
    print(header)
    results = []
    try:
        for n in sizes:
            out = base / f"n{n}"
            r = _run_size(n, out, args)
            results.append(r)
            print(
                f"{r['invoices']:>11,} {r['events']:>11,} {r['seconds']:>8.1f} "
                f"{r['invoices'] / r['seconds']:>11,.0f} {r['events'] / r['seconds']:>10,.0f} "
                f"{r['bytes'] / 1e6:>8,.0f} {r['rss_parent_mb']:>8.0f} MB"
                f" {r['rss_worker_mb']:>8.0f} MB"
            )
            if not args.keep:
                shutil.rmtree(out, ignore_errors=True)
        big = results[-1]
        per_invoice = big["events"] / max(big["invoices"], 1)
        base.mkdir(parents=True, exist_ok=True)
        baseline = _baseline(sizes[-1], base, per_invoice, dt.date.fromisoformat(args.today))
    finally:
        if not args.keep and not args.out:
            shutil.rmtree(base, ignore_errors=True)
    rate = big["invoices"] / big["seconds"]
    print(
        f"baseline: msgspec-encode + write one constant invoice (+{per_invoice:.2f} events) "
        f"{sizes[-1]:,} times, 1 process: {baseline:,.0f} invoices/s"
    )
    print(f"ratio generate/baseline at N={sizes[-1]:,}: {rate / baseline:.2f}")
    worker_growth = big["rss_worker_mb"] / max(results[0]["rss_worker_mb"], 1)
    parent_growth = big["rss_parent_mb"] / max(results[0]["rss_parent_mb"], 1)
    print(
        f"peak RSS growth {sizes[0]:,} -> {sizes[1]:,}: parent x{parent_growth:.2f}, "
        f"worker x{worker_growth:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
