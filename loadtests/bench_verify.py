"""Verification throughput as a ratio to a no-op endpoint, cache-miss throughput, and
latency at half of peak load: ``python -m loadtests.bench_verify``.

One ``fapiao serve`` worker pinned to CPU 0, the load generator pinned to CPU 1,
loopback only, bounded in time (about a minute). Redis runs beside the load
generator by default (a redis-server with the private one's options, given to the
service as ``FAPIAO_REDIS_URL``), so the worker's core serves the worker alone, as
in any deployment with Redis on its own host; ``--redis-cpu 0`` keeps the service's
private redis-server on the worker's core (stricter: its work and the wake-ups of
every round trip are charged to that core). Either way Redis's CPU counts in
``cpu µs``. The baseline is ``POST /_bench/noop`` served by the same server in the same
run: same request body, same response size (a canned 001 answer), no work. Peak
throughput is measured with ``wrk`` when installed (closed loop, keep-alive), else
with the asyncio load generator in loadtests/_loadgen.py; misses and latency always
use the latter (unique keys; open loop at a fixed rate).

Besides throughput, the CPU time the serving process tree (the worker, its threads
and Redis) spends per request is read from /proc around each
peak run: on a box shared with other work that figure moves much less than
requests/s, so it is printed too (``cpu µs`` and ``cpu ratio`` = no-op ÷ hit).

Why many short pairs and a settle (the per-round ratio used to spread 0.54–0.96):
the recorder writes a run's verifications up to its interval (3 s) after it, and the merges
of those parts come later still, so with back-to-back runs a hit run's ClickHouse
work landed in the next no-op run (making the no-op look dear), and other
engineers' processes on CPU 0 take a varying share of the server's core. Now each
peak run is followed by a settle (wait until the serving tree is idle again; its
CPU meanwhile, less its idle rate, is charged to the run that caused it), the
order alternates (noop, hit, hit, noop, ...) so drift affects both alike, and
the figures are medians of the pairs, with their spread. The share of CPU 0 the
server got and the load generator's CPU are printed to show when a run was starved
or client-bound.

A no-op run leaves nothing behind (no recording, no merges), so it waits only until
the server is idle, not the record interval: pairs come closer together and more of
them fit in the same minutes. A pair in which either run got less than
``--min-core`` of CPU 0 (other work on the box took the rest) measured the
competition, not the server: it is counted as starved and run again (while at
least half the pairs so far held the core, up to twice ``--rounds`` pairs in all);
the medians are of the pairs where the server held its core (of all pairs,
flagged, when fewer than half did).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from statistics import median
from typing import Any

from loadtests._loadgen import post_request, run_closed, run_open

ROOT = Path(__file__).resolve().parents[1]
FAPIAO = str(Path(sys.executable).with_name("fapiao"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pin(cpu: int) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", str(cpu)]
    return []


def prepare(data_dir: Path, invoices: int) -> list[str]:
    """Generate ``invoices`` into the data dir's store (in a child process: chDB stays out
    of this one); returns their QR lines."""
    out = data_dir / "qr-lines.json"
    code = (
        "import sys, json; from pathlib import Path; from verify import Settings, open_store;"
        "from api._demo import load_generated;"
        "s = open_store(Settings.from_env({'FAPIAO_DATA_DIR': sys.argv[1]}));"
        "lines, _ = load_generated(s, int(sys.argv[2]), seed=11); s.close();"
        "Path(sys.argv[3]).write_text(json.dumps(lines))"
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-c", code, str(data_dir), str(invoices), str(out)], check=True, cwd=ROOT
    )
    lines: list[str] = json.loads(out.read_text())
    return lines


def _tree(pid: int) -> set[int]:
    """``pid`` and its descendants (Linux /proc; empty elsewhere)."""
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        found.add(p)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
    return found if os.path.exists(f"/proc/{pid}") else set()


def _cpu_seconds(pids: set[int]) -> float:
    """User + system CPU time of these processes (all their threads)."""
    ticks = 0
    for p in pids:
        with contextlib.suppress(OSError), open(f"/proc/{p}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK") if pids else float("nan")


@contextlib.contextmanager
def serving(data_dir: Path, server: str, redis_url: str | None = None) -> Iterator[int]:
    port = _free_port()
    env = {
        **os.environ,
        "FAPIAO_DATA_DIR": str(data_dir),
        "FAPIAO_PORT": str(port),
        "FAPIAO_BENCH": "1",
        "FAPIAO_SERVER": server,
        "FAPIAO_DAILY_LIMIT": str(10**9),  # every hit stays a 001 for the whole run
        "FAPIAO_RATE_LIMIT_PER_IP": str(10**9),  # counted on every request, never reached
    }
    env.pop("FAPIAO_REDIS_URL", None)
    if redis_url:
        env["FAPIAO_REDIS_URL"] = redis_url
    proc = subprocess.Popen(
        [*_pin(0), FAPIAO, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                    if json.loads(r.read())["status"] == "ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise SystemExit(f"server did not start:\n{err[-2000:]}")
            time.sleep(0.2)
        _served_pids[port] = proc.pid
        yield port
    finally:
        _served_pids.pop(port, None)
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if proc.stderr:
            proc.stderr.close()


_served_pids: dict[int, int] = {}
"""port -> pid of the ``fapiao serve`` process answering on it."""


def _bodies(lines: Sequence[str]) -> list[bytes]:
    return [json.dumps({"qr": line}).encode() for line in lines]


def wrk(
    port: int, path: str, bodies: Sequence[bytes], seconds: float, connections: int
) -> tuple[float, int]:
    """(requests/s, requests answered)."""
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    quoted = ",\n".join(json.dumps(b.decode()) for b in bodies)
    script.write_text(
        f"local bodies = {{\n{quoted}\n}}\nlocal i = 0\n"
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        "request = function()\n  i = i % #bodies + 1\n"
        f'  return wrk.format(nil, "{path}", nil, bodies[i])\nend\n'
    )
    try:
        out = subprocess.run(
            [*_pin(1), "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
             "-s", str(script), f"http://127.0.0.1:{port}"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        script.unlink()
    if "Non-2xx" in out:
        raise SystemExit(f"unexpected non-2xx answers on {path}:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return rps, int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]


def closed(
    port: int, path: str, bodies: Sequence[bytes], seconds: float, connections: int
) -> tuple[float, int]:
    reqs = [post_request(path, b) for b in bodies]
    res = asyncio.run(run_closed(port, reqs, connections=connections, seconds=seconds))
    if set(res.statuses) != {200}:
        raise SystemExit(f"unexpected answers on {path}: {res.statuses}")
    return res.rate, res.done


@contextlib.contextmanager
def redis_on(cpu: int, directory: Path) -> Iterator[tuple[str | None, set[int]]]:
    """(None, no pid): the service's private Redis (inherits CPU 0, counted in the
    serving tree); else (its URL, its pid): a redis-server on ``cpu`` with the same
    options, whose CPU is counted with the server's too."""
    if cpu == 0:
        yield None, set()
        return
    from verify._cache import PrivateRedis

    server = PrivateRedis(directory).start()
    assert server.process is not None
    os.sched_setaffinity(server.process.pid, {cpu})
    try:
        yield server.url, {server.process.pid}
    finally:
        server.stop()


def _settle(pids: set[int], idle_rate: float, wait: float) -> float:
    """Wait until the serving tree is idle again and return the CPU it spent meanwhile
    beyond its idle rate: a round's recording (written every FAPIAO_RECORD_INTERVAL) and
    the merges its parts cause belong to that round, not to the next one."""
    start, t0 = _cpu_seconds(pids), time.monotonic()
    time.sleep(wait)
    deadline = t0 + wait + 4.0
    while time.monotonic() < deadline:
        before, tb = _cpu_seconds(pids), time.monotonic()
        time.sleep(0.25)
        if _cpu_seconds(pids) - before <= (time.monotonic() - tb) * (idle_rate + 0.04):
            break
    return max(0.0, _cpu_seconds(pids) - start - idle_rate * (time.monotonic() - t0))


def _children_cpu() -> float:
    """CPU of this process and its waited-for children: the load generator (wrk, or
    the asyncio one in this process)."""
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def peak_pairs(
    args: argparse.Namespace,
    port: int,
    bodies: Sequence[bytes],
    peak: Any,
    redis_pids: set[int],
) -> dict[str, list[float]]:
    """Pairs of no-op and hit runs, the order alternating (ABBA), each run followed by
    a settle, until ``args.rounds`` pairs in which the server held its core (at most
    twice as many pairs in all); per run: requests/s, serving CPU µs a request (its
    settle included), the share of CPU 0 the serving tree got, the load generator's
    CPU. ``clean`` holds, per pair, 1.0 when both runs held the core. A Redis on the
    other core (``redis_pids``) is charged to the requests but not to the core share."""
    server = _tree(_served_pids[port])
    pids = server | redis_pids
    time.sleep(args.settle + 1.0)  # the warm-up's recording written first
    t0, c0 = time.monotonic(), _cpu_seconds(pids)
    time.sleep(3.0)  # several change-log polls and recorder ticks
    idle_rate = (_cpu_seconds(pids) - c0) / (time.monotonic() - t0)
    got: dict[str, list[float]] = {"idle_rate": [idle_rate], "clean": []}
    i = 0
    # Extra pairs replace starved ones only while most pairs hold the core: on a box
    # busy throughout they would double the run and still be starved.
    while sum(got["clean"]) < args.rounds and (
        i < args.rounds or (i < 2 * args.rounds and sum(got["clean"]) >= i / 2)
    ):
        order = ("/_bench/noop", "/api/v1/verify")
        for path in order if i % 2 == 0 else order[::-1]:
            name = "noop" if path == "/_bench/noop" else "hit"
            cpu, own = _cpu_seconds(pids), _cpu_seconds(server)
            gen, started = _children_cpu(), time.monotonic()
            rps, done = peak(port, path, bodies, args.seconds, args.connections)
            wall, used = time.monotonic() - started, _cpu_seconds(pids) - cpu
            core = (_cpu_seconds(server) - own) / wall
            gen = _children_cpu() - gen
            # only a hit run leaves work behind (its recording, the merges it causes)
            tail = _settle(pids, idle_rate, args.settle if name == "hit" else 0.0)
            got.setdefault(f"{name}_rps", []).append(rps)
            got.setdefault(f"{name}_cpu_us", []).append((used + tail) / max(done, 1) * 1e6)
            got.setdefault(f"{name}_core", []).append(core)
            got.setdefault(f"{name}_gen", []).append(gen / wall)
            if args.verbose:
                print(
                    f"  {name:<4} {rps:7.0f} rps {got[f'{name}_cpu_us'][-1]:6.1f} µs "
                    f"(tail {tail / max(done, 1) * 1e6:5.1f}) core {core:.2f} "
                    f"load {os.getloadavg()[0]:.1f}",
                    file=sys.stderr,
                )
        held = min(got["noop_core"][-1], got["hit_core"][-1]) >= args.min_core
        got["clean"].append(1.0 if held else 0.0)
        i += 1
    return got


def measure(
    args: argparse.Namespace, data_dir: Path, lines: list[str], server: str
) -> dict[str, float]:
    hits, misses = lines[: args.hot], lines[args.hot :]
    hit_bodies = _bodies(hits)
    use_wrk = shutil.which("wrk") is not None and not args.python_loadgen
    peak = wrk if use_wrk else closed
    out: dict[str, float] = {}
    with (
        redis_on(args.redis_cpu, data_dir.parent / "redis-bench") as (redis_url, redis_pids),
        serving(data_dir, server, redis_url) as port,
    ):
        warm = [post_request("/api/v1/verify", b) for b in hit_bodies]
        asyncio.run(run_closed(port, warm, connections=8, seconds=120, once=True))
        got = peak_pairs(args, port, hit_bodies, peak, redis_pids)
        clean = got["clean"]
        keep = [j for j, c in enumerate(clean) if c] if sum(clean) >= args.rounds / 2 else []
        out["all_kept"] = 0.0 if keep else 1.0
        if not keep:  # too few pairs held the core: all of them, flagged
            keep = list(range(len(clean)))
        out["pairs"], out["starved"] = len(keep), len(clean) - sum(clean)
        for key in [k for k in got if k.startswith(("noop_", "hit_"))]:
            got[key] = [got[key][j] for j in keep]
        cpu_pairs = [n / h for n, h in zip(got["noop_cpu_us"], got["hit_cpu_us"], strict=True)]
        rps_pairs = [h / n for n, h in zip(got["noop_rps"], got["hit_rps"], strict=True)]
        out["cpu_ratio"] = median(cpu_pairs)
        out["cpu_ratio_lo"], out["cpu_ratio_hi"] = min(cpu_pairs), max(cpu_pairs)
        out["ratio"] = median(rps_pairs)
        out["ratio_lo"], out["ratio_hi"] = min(rps_pairs), max(rps_pairs)
        for name in ("noop", "hit"):
            for what in ("rps", "cpu_us", "core", "gen"):
                out[f"{name}_{what}"] = median(got[f"{name}_{what}"])
        out["idle_cpu"] = got["idle_rate"][0]
        miss_reqs = [post_request("/api/v1/verify", b) for b in _bodies(misses)]
        res = asyncio.run(
            run_closed(port, miss_reqs, connections=16, seconds=args.seconds, once=True)
        )
        out["miss_rps"] = res.rate
        out["miss_p50_ms"] = res.percentile(50) * 1000
        rate = out["hit_rps"] / 2
        reqs = [post_request("/api/v1/verify", b) for b in hit_bodies]
        res = asyncio.run(run_open(port, reqs, rate=rate, seconds=args.seconds))
        out["half_load_rps"] = res.rate
        out["p50_ms"] = res.percentile(50) * 1000
        out["p99_ms"] = res.percentile(99) * 1000
    out["loadgen"] = 1.0 if use_wrk else 0.0
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", type=float, default=3, help="per peak run (default 3)")
    p.add_argument(
        "--rounds",
        type=int,
        default=8,
        help="no-op/hit pairs, order alternating; medians reported (default 8)",
    )
    p.add_argument(
        "--settle",
        type=float,
        default=None,
        help="seconds to wait after each peak run before checking the server is idle "
        "(default: the recorder's interval + 0.5, so each run pays its own recording)",
    )
    p.add_argument(
        "--min-core",
        type=float,
        default=0.9,
        help="a pair counts when the server got at least this share of CPU 0 in both "
        "runs; starved pairs are run again (default 0.9)",
    )
    p.add_argument("--verbose", action="store_true", help="print every peak run")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--invoices", type=int, default=6000, help="generated and ingested")
    p.add_argument("--hot", type=int, default=1000, help="invoices kept hot (the rest miss)")
    p.add_argument("--servers", default="granian", help="comma list: granian,uvicorn")
    p.add_argument("--python-loadgen", action="store_true", help="do not use wrk")
    p.add_argument(
        "--redis-cpu",
        type=int,
        choices=(0, 1),
        default=1,
        help="1 (default): Redis beside the load generator, so the worker's core serves "
        "only the worker, as with Redis on its own host; 0: Redis shares the worker's core "
        "(stricter: its work and wake-ups are charged to the worker's core)",
    )
    args = p.parse_args(argv)
    if args.settle is None:
        from api._services import RECORD_INTERVAL_S

        args.settle = float(os.environ.get("FAPIAO_RECORD_INTERVAL") or RECORD_INTERVAL_S) + 0.5
    if (os.cpu_count() or 1) > 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {1})  # this process is the asyncio load generator: CPU 1
    with tempfile.TemporaryDirectory(prefix="fapiao-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        t0 = time.perf_counter()
        lines = prepare(data_dir, args.invoices)
        print(
            f"prepared {len(lines)} invoices in {time.perf_counter() - t0:.1f} s", file=sys.stderr
        )
        rows = {s: measure(args, data_dir, lines, s) for s in args.servers.split(",")}
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(
        f"bench_verify {stamp}: 1 worker on CPU 0, load generator on CPU 1, "
        f"Redis on CPU {args.redis_cpu}, loopback"
    )
    header = (
        f"{'server':<8} {'noop rps':>9} {'hit rps':>9} {'ratio':>6} {'miss rps':>9} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'@ rps':>7} {'cpu µs noop/hit':>15} "
        f"{'cpu ratio':>9}  loadgen"
    )
    print(header)
    for server, r in rows.items():
        print(
            f"{server:<8} {r['noop_rps']:>9.0f} {r['hit_rps']:>9.0f} {r['ratio']:>6.2f} "
            f"{r['miss_rps']:>9.0f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} "
            f"{r['half_load_rps']:>7.0f} {r['noop_cpu_us']:>7.0f}/{r['hit_cpu_us']:<7.0f} "
            f"{r['cpu_ratio']:>9.2f}  {'wrk' if r['loadgen'] else 'asyncio'}"
        )
        print(
            f"{'':<8} per pair ({r['pairs']:.0f} pairs of {args.seconds:g} s, "
            f"{r['starved']:.0f} starved"
            f"{', kept: too few held the core' if r['all_kept'] else ''}): "
            f"ratio {r['ratio_lo']:.2f}–{r['ratio_hi']:.2f}, "
            f"cpu ratio {r['cpu_ratio_lo']:.2f}–{r['cpu_ratio_hi']:.2f}; "
            f"CPU 0 share of the server noop/hit {r['noop_core']:.2f}/{r['hit_core']:.2f}, "
            f"load generator's core {r['noop_gen']:.2f}/{r['hit_gen']:.2f}, "
            f"idle server {r['idle_cpu'] * 1000:.0f} ms/s"
        )
    print("ratio = cache-hit verifications/s ÷ no-op POSTs/s, median of the pairs (goal ≥ 0.75)")
    print("p50/p99 = open-loop latency at half the hit peak; miss = first lookups (chDB)")
    print(
        "cpu µs = CPU of the serving processes (worker, threads, Redis on either core) per "
        "request, the run's own recording and merges included (measured until the server is idle "
        "again, its idle rate taken off), median of the pairs; cpu ratio = noop ÷ hit, "
        "median of the pairs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
