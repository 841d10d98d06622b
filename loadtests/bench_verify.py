"""Verification throughput as a ratio to a no-op endpoint, cache-miss throughput, and
latency at half of peak load: ``python -m loadtests.bench_verify``.

One ``fapiao serve`` worker pinned to CPU 0 (its private redis-server inherits the
pin), the load generator pinned to CPU 1, loopback only, bounded in time (about a
minute). The baseline is ``POST /_bench/noop`` served by the same server in the same
run: same request body, same response size (a canned 001 answer), no work. Peak
throughput is measured with ``wrk`` when installed (closed loop, keep-alive), else
with the asyncio load generator in loadtests/_loadgen.py; misses and latency always
use the latter (unique keys; open loop at a fixed rate).

Besides throughput, the CPU time the serving process tree (the worker, its threads
and its private redis-server) spends per request is read from /proc around each
peak run: on a box shared with other work that figure moves much less than
requests/s, so it is printed too (``cpu µs`` and ``cpu ratio`` = no-op ÷ hit). CPU
that ClickHouse's background merges spend after a run lands in the next one, so
the smallest figure of the rounds is kept for each endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

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
def redis_on(cpu: int, directory: Path) -> Iterator[str | None]:
    """None: the service's private Redis (inherits CPU 0); else a redis-server on ``cpu``."""
    if cpu == 0:
        yield None
        return
    from verify._cache import PrivateRedis

    server = PrivateRedis(directory).start()
    assert server.process is not None
    os.sched_setaffinity(server.process.pid, {cpu})
    try:
        yield server.url
    finally:
        server.stop()


def measure(
    args: argparse.Namespace, data_dir: Path, lines: list[str], server: str
) -> dict[str, float]:
    hits, misses = lines[: args.hot], lines[args.hot :]
    hit_bodies = _bodies(hits)
    use_wrk = shutil.which("wrk") is not None and not args.python_loadgen
    peak = wrk if use_wrk else closed
    out: dict[str, float] = {}
    with (
        redis_on(args.redis_cpu, data_dir.parent / "redis-bench") as redis_url,
        serving(data_dir, server, redis_url) as port,
    ):
        warm = [post_request("/api/v1/verify", b) for b in hit_bodies]
        asyncio.run(run_closed(port, warm, connections=8, seconds=120, once=True))
        pids = _tree(_served_pids[port])
        runs: dict[str, list[tuple[float, float]]] = {"/_bench/noop": [], "/api/v1/verify": []}
        for _ in range(args.rounds):  # interleaved, so drift affects both alike
            for path, got in runs.items():
                cpu = _cpu_seconds(pids)
                rps, done = peak(port, path, hit_bodies, args.seconds, args.connections)
                got.append((rps, (_cpu_seconds(pids) - cpu) / max(done, 1) * 1e6))
        noop, verify = runs["/_bench/noop"], runs["/api/v1/verify"]
        out["noop_rps"] = max(r for r, _ in noop)
        out["hit_rps"] = max(r for r, _ in verify)
        out["ratio"] = out["hit_rps"] / out["noop_rps"]
        out["noop_cpu_us"] = min(c for _, c in noop)
        out["hit_cpu_us"] = min(c for _, c in verify)
        out["cpu_ratio"] = out["noop_cpu_us"] / out["hit_cpu_us"]
        pairs = [h[0] / n[0] for n, h in zip(noop, verify, strict=True)]
        out["ratio_lo"], out["ratio_hi"] = min(pairs), max(pairs)
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
    p.add_argument("--seconds", type=float, default=5, help="per measurement (default 5)")
    p.add_argument(
        "--rounds", type=int, default=2, help="noop/verify rounds, interleaved; best kept"
    )
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--invoices", type=int, default=6000, help="generated and ingested")
    p.add_argument("--hot", type=int, default=1000, help="invoices kept hot (the rest miss)")
    p.add_argument("--servers", default="granian", help="comma list: granian,uvicorn")
    p.add_argument("--python-loadgen", action="store_true", help="do not use wrk")
    p.add_argument(
        "--redis-cpu",
        type=int,
        choices=(0, 1),
        default=0,
        help="0: Redis shares the worker's core (default, strict); 1: beside the load generator",
    )
    args = p.parse_args(argv)
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
            f"{'':<8} ratio of each noop/verify pair of rounds: "
            f"{r['ratio_lo']:.2f}–{r['ratio_hi']:.2f} ({args.rounds} rounds)"
        )
    print("ratio = cache-hit verifications/s ÷ no-op POSTs/s (goal ≥ 0.75)")
    print("p50/p99 = open-loop latency at half the hit peak; miss = first lookups (chDB)")
    print(
        "cpu µs = CPU of the serving processes (worker, threads, private Redis) per request, "
        "least of the rounds; cpu ratio = noop ÷ hit"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
