"""A small keep-alive HTTP/1.1 load generator on raw asyncio sockets (loopback only).

Closed loop (``run_closed``: C connections, each sends its next request when the
previous answer is read) for throughput, and open loop (``run_open``: requests
scheduled at a fixed rate, latency measured from the scheduled time, so a slow
server cannot hide its queueing) for latency at a given load.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence


def post_request(path: str, body: bytes, host: str = "127.0.0.1") -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
            break
    if length:
        await reader.readexactly(length)
    return status


class Result:
    def __init__(self) -> None:
        self.done = 0
        self.statuses: dict[int, int] = {}
        self.latencies: list[float] = []
        self.elapsed = 0.0

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        data = sorted(self.latencies)
        return data[min(len(data) - 1, int(p / 100 * len(data)))]


async def run_closed(
    port: int, requests: Sequence[bytes], *, connections: int, seconds: float, once: bool = False
) -> Result:
    """Throughput with ``connections`` busy connections for ``seconds`` (or until every
    request was sent once, with ``once``)."""
    result = Result()
    deadline = time.perf_counter() + seconds
    counter = iter(range(len(requests))) if once else None
    n = len(requests)

    async def worker(offset: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = offset
        try:
            while time.perf_counter() < deadline:
                if counter is not None:
                    nxt = next(counter, None)
                    if nxt is None:
                        return
                    req = requests[nxt]
                else:
                    req = requests[i % n]
                    i += connections
                started = time.perf_counter()
                writer.write(req)
                status = await _read_response(reader)
                result.latencies.append(time.perf_counter() - started)
                result.statuses[status] = result.statuses.get(status, 0) + 1
                result.done += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(connections)))
    result.elapsed = time.perf_counter() - started
    return result


async def run_open(
    port: int, requests: Sequence[bytes], *, rate: float, seconds: float, connections: int = 64
) -> Result:
    """Latency at a fixed arrival ``rate`` (requests/s), measured from the scheduled time."""
    result = Result()
    total = int(rate * seconds)
    interval = 1.0 / rate
    start = time.perf_counter() + 0.2
    n = len(requests)

    async def worker(k: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for j in range(k, total, connections):
                scheduled = start + j * interval
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                writer.write(requests[j % n])
                status = await _read_response(reader)
                result.latencies.append(time.perf_counter() - scheduled)
                result.statuses[status] = result.statuses.get(status, 0) + 1
                result.done += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker(k) for k in range(connections)))
    result.elapsed = time.perf_counter() - start
    return result
